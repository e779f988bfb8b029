"""Small seeded test models, built locally (torch export + onnxruntime.quantization.quantize_static).

Nothing is downloaded: each model is a torch module with seeded weights, exported to ONNX and
quantized with seeded calibration data, in QDQ or QOperator format, per tensor or per channel.
Used by the tests (built once per session), ``examples/model/`` and ``bench/model.py``.
"""

import functools
import warnings
from pathlib import Path

import numpy as np

from ..errors import InvalidValueError
from ..peers.versions import need

KINDS = ("cnn", "convnet", "resnet", "mlp", "transformer", "mobilenet", "resnet50")


def _conv_modules(torch):
    nn, F = torch.nn, torch.nn.functional

    class CNN(nn.Module):
        """conv, depthwise, residual add, avg pool, global pool, FC, softmax."""
        def __init__(self, c=8):
            super().__init__()
            self.c1, self.dw = nn.Conv2d(3, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1, groups=c)
            self.c2, self.fc = nn.Conv2d(c, c, 1), nn.Linear(c, 10)

        def forward(self, x):
            y = F.relu(self.c1(x))
            z = self.c2(F.relu(self.dw(y))) + y
            z = F.avg_pool2d(z, 2)
            return torch.softmax(self.fc(F.adaptive_avg_pool2d(z, 1).flatten(1)), -1)

    class ConvNet(nn.Module):
        """conv, depthwise, strided conv, FC: every QDQ group fuses to an integer kernel at 'all'."""
        def __init__(self, c=8):
            super().__init__()
            self.c1, self.dw = nn.Conv2d(3, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1, groups=c)
            self.c2, self.fc = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.LazyLinear(10)

        def forward(self, x):
            y = F.relu(self.c2(F.relu(self.dw(F.relu(self.c1(x))))))
            return self.fc(y.flatten(1))

    class ResNet(nn.Module):
        """conv, depthwise, 1x1 conv with a residual add, strided conv, FC (every op converts to TFLite)."""
        def __init__(self, c=8):
            super().__init__()
            self.c1, self.dw = nn.Conv2d(3, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1, groups=c)
            self.c2, self.c3 = nn.Conv2d(c, c, 1), nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
            self.fc = nn.LazyLinear(10)

        def forward(self, x):
            y = F.relu(self.c1(x))
            y = F.relu(self.c2(F.relu(self.dw(y))) + y)
            return self.fc(F.relu(self.c3(y)).flatten(1))

    return {"cnn": CNN, "convnet": ConvNet, "resnet": ResNet}


def _dense_modules(torch):
    nn, F = torch.nn, torch.nn.functional

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)

        def forward(self, x):
            return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))

    class Block(nn.Module):
        """one transformer block: attention (MatMul, Softmax), residual Add, LayerNorm, MLP."""
        def __init__(self, d=16):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.f1, self.f2, self.d = nn.Linear(d, 2 * d), nn.Linear(2 * d, d), d

        def forward(self, x):
            a = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) / self.d ** 0.5, -1) @ self.v(x)
            x = self.n1(x + self.o(a))
            return self.n2(x + self.f2(F.relu(self.f1(x))))

    return {"mlp": MLP, "transformer": Block}


def _modules(torch):
    """kind -> (torch module class, default input shape)."""
    m = {**_conv_modules(torch), **_dense_modules(torch), "mobilenet": _mobilenet(torch),
         "resnet50": _resnet50(torch)}
    shapes = {"cnn": (1, 3, 8, 8), "convnet": (1, 3, 8, 8), "resnet": (1, 3, 16, 16), "mlp": (4, 32),
              "transformer": (1, 8, 16), "mobilenet": (1, 3, 32, 32), "resnet50": (1, 3, 32, 32)}
    return {k: (m[k], shapes[k]) for k in KINDS}


def _mobilenet(torch):
    nn = torch.nn

    def cbr(i, o, s=1, g=1, k=3):
        return nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(o), nn.ReLU6())

    class Inverted(nn.Module):
        def __init__(self, i, o, s, t):
            super().__init__()
            h = i * t
            self.res = s == 1 and i == o
            self.body = nn.Sequential(cbr(i, h, k=1), cbr(h, h, s, g=h),
                                      nn.Conv2d(h, o, 1, bias=False), nn.BatchNorm2d(o))

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    class MobileNetV2(nn.Module):
        """MobileNetV2-shaped: inverted residuals (expand 1x1, depthwise 3x3, project 1x1), width ``w``."""
        def __init__(self, w=0.25, blocks=((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2)), classes=10):
            super().__init__()
            c = max(8, int(32 * w))
            layers = [cbr(3, c, 2)]
            for t, o, n, s in blocks:
                o = max(8, int(o * w))
                for r in range(n):
                    layers.append(Inverted(c, o, s if r == 0 else 1, t))
                    c = o
            layers.append(cbr(c, 64, k=1))
            self.features, self.fc = nn.Sequential(*layers), nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(self.features(x).mean((2, 3)))
    return MobileNetV2


def _resnet50(torch):
    nn, F = torch.nn, torch.nn.functional

    def cb(i, o, k=1, s=1):
        return nn.Sequential(nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o))

    class Bottleneck(nn.Module):
        """1x1 reduce, 3x3 (stride here, as torchvision's ResNet v1.5), 1x1 expand x4; projection shortcut
        where the shape changes; add, then ReLU."""
        def __init__(self, i, m, s):
            super().__init__()
            o = 4 * m
            self.body = nn.Sequential(cb(i, m), nn.ReLU(), cb(m, m, 3, s), nn.ReLU(), cb(m, o))
            self.short = cb(i, o, 1, s) if s != 1 or i != o else nn.Identity()

        def forward(self, x):
            return F.relu(self.body(x) + self.short(x))

    class ResNet50(nn.Module):
        """ResNet-50-shaped: stem 7x7/2 + max pool 3x3/2, bottleneck stages 3-4-6-3 of widths 64..512
        (outputs 256..2048) scaled by ``w``, global average pool, FC."""
        def __init__(self, w=0.125, layers=(3, 4, 6, 3), classes=10):
            super().__init__()
            c = max(8, int(64 * w))
            blocks = [cb(3, c, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
            for stage, n in enumerate(layers):
                m = max(8, int(64 * 2 ** stage * w))
                for r in range(n):
                    blocks.append(Bottleneck(c, m, 2 if r == 0 and stage > 0 else 1))
                    c = 4 * m
            self.features, self.fc = nn.Sequential(*blocks), nn.Linear(c, classes)

        def forward(self, x):
            return self.fc(self.features(x).mean((2, 3)))
    return ResNet50


def _export(torch, module, shape, path, seed):
    torch.manual_seed(seed)
    m = module().eval()
    with torch.no_grad():
        for p in m.modules():
            if isinstance(p, torch.nn.BatchNorm2d):
                p.running_mean.uniform_(-0.2, 0.2)
                p.running_var.uniform_(0.5, 1.5)
    x = torch.randn(*shape)
    with warnings.catch_warnings():   # the legacy exporter's and lazy modules' notices are not the user's concern
        warnings.simplefilter("ignore")
        with torch.no_grad():
            m(x)                      # materializes lazy layers (the FC's input size follows the input shape)
        torch.onnx.export(m, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False, opset_version=17)


def build(kind, folder, fmt="qdq", per_channel=True, seed=0, calib=4, shape=None, activations="uint8", width=None):
    """Path of the quantized model ``kind`` (KINDS) in ``folder``: QDQ, QOperator ('qop') or 'dynamic', uint8
    (or int8) activations, int8 weights, per channel or per tensor; built once (reused when present).
    ``width`` scales the channels of 'mobilenet' and 'resnet50' (default: the class's own, 0.25 / 0.125)."""
    torch = need("torch", "model zoo")
    need("onnxruntime", "model zoo")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    module, default_shape = _modules(torch)[kind]
    shape = tuple(shape or default_shape)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{kind}_{'x'.join(map(str, shape))}_s{seed}"
    if width is not None:
        if kind not in ("mobilenet", "resnet50"):
            raise InvalidValueError(f"width {width!r} given for model kind {kind!r}: only mobilenet and resnet50 "
                                    "take a width")
        module, tag = functools.partial(module, w=width), f"{tag}_w{width:g}"
    act = "" if activations == "uint8" else f"_{activations}"
    out = folder / f"{tag}_{fmt}_{'pc' if per_channel else 'pt'}{act}.onnx"
    if out.is_file():
        return out
    fp = folder / f"{tag}_float.onnx"
    if not fp.is_file():
        _export(torch, module, shape, fp, seed)
    if fmt == "dynamic":          # onnxruntime.quantization.quantize_dynamic: weights int8, activations at run time
        from onnxruntime.quantization import quantize_dynamic
        tmp = out.with_suffix(".tmp.onnx")
        quantize_dynamic(str(fp), str(tmp), weight_type=QuantType.QInt8, per_channel=per_channel)
        tmp.replace(out)
        return out
    rng = np.random.default_rng(seed)
    data = [{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(calib)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            return next(self.it, None)
    tmp = out.with_suffix(".tmp.onnx")
    quantize_static(str(fp), str(tmp), Reader(), quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    per_channel=per_channel, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8)
    tmp.replace(out)
    return out
