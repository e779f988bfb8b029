"""One bar chart for the benchmarks' --png: a ratio per row against a line at 1.0 (matplotlib)."""
import sys


def ratio_png(path, labels, ratios, title, ylabel):
    """Bars green where the ratio is >= 1, orange below; True when written, False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# --png needs matplotlib: pip install -e '.[report]'", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(ratios)), 4))
    ax.bar(range(len(ratios)), ratios, color=["tab:green" if v >= 1 else "tab:orange" for v in ratios])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(ratios)), labels, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"# wrote {path}")
    return True
