"""Old home of the audit library, kept for one release: every name re-exported from the modules
it was split into (issue 12).  Import from them instead:

    case.py          Case, make_case, load_case, golden_case, params_for (typed cases, validation)
    accumulators.py  accumulators, conv_accumulators, overflow_possible (oracle / C kernel / im2col)
    candidates.py    Candidate, candidate_list, apply_candidate, quantize_candidates
    expectation.py   expected, quantize_expected, check_actual, explain_element
    diagnosis.py     audit, diagnose, rank_candidates, rank (the ranking and the verdict)
    ranking.py       CandidateRow, Ranking (the diagnosis as a typed value)
    numpy_forms.py   the numpy forms of requantization keyed by method name
    common.py        Progress, the oracle limits, OracleDisagreement
"""

from .accumulators import (  # noqa: F401
                           CONV_VARIANTS,
                           _ab_operands,
                           _conv_oracle_nested,
                           _group_of,
                           _kernel_dtype,
                           _oracle_acc,
                           accumulators,
                           conv_accumulators,
                           conv_oracle_element,
                           conv_variants,
                           im2col,
                           overflow_possible,
                           to_gemm,
                           to_nchw,
)
from .candidates import (  # noqa: F401
                           _QUOTIENTS,
                           Candidate,
                           Distinct,
                           _oracle_one,
                           _profile_key,
                           _variant_params,
                           _with_bias,
                           apply_candidate,
                           candidate_list,
                           quantize_candidates,
)
from .case import (  # noqa: F401
                           CONV_ALIASES,
                           CONV_NAMES,
                           FLOAT_BIAS_METHODS,
                           GEMM_OPS,
                           NAME_KEYS,
                           OPS,
                           REQUIRED,
                           SCALE_KEYS,
                           TENSOR_NAMES,
                           Case,
                           _brief,
                           _explicit_channels,
                           _hexs,
                           _kinds,
                           _make_case,
                           _pc,
                           _probe,
                           _scale,
                           _tensor_spec,
                           _validate,
                           add_bias_step,
                           candidate_int_bias,
                           golden_case,
                           golden_spec,
                           load_case,
                           make_case,
                           params_for,
                           profile_method,
                           quantized_bias,
)
from .common import (  # noqa: F401
                           CONFIRM,
                           ORACLE_ELEMENTS,
                           ORACLE_MACS,
                           UNIQUE_CAP,
                           OracleDisagreement,
                           Progress,
                           _quiet,
)
from .diagnosis import _histogram, _score, audit, diagnose, rank, rank_candidates  # noqa: F401
from .expectation import (  # noqa: F401
                           _expected,
                           _explain_conv_acc,
                           _explain_element,
                           _explain_matmul_acc,
                           check_actual,
                           expected,
                           explain_element,
                           quantize_expected,
)
from .numpy_forms import UNPRED, VARIANTS, exact_round  # noqa: F401
from .numpy_forms import exact_round as _exact_round  # noqa: F401  (the old name)
from .numpy_forms import variant_oracle as _variant_oracle  # noqa: F401
from .numpy_forms import variant_vectorised as _variant_vec  # noqa: F401
from .numpy_forms import vectorised as _vec  # noqa: F401
from .ranking import CandidateRow, Ranking  # noqa: F401
from .ranking import percent as _pct  # noqa: F401  (the old name)
