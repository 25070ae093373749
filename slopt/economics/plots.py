"""PNG plots of the economics: cash flow per party per model, NPV distributions, fee bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slopt.economics.cashflows import FEE_UNIT

__all__ = ["plot_economics"]


def plot_economics(ev, risk, out_dir: str | Path) -> list[Path]:
    """Write ``cashflows.png``, ``fee_bands.png`` and (with a Monte Carlo) ``npv_distributions.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from slopt.report import _save

    out_dir = Path(out_dir)
    models = list(dict.fromkeys(ev.metrics["model"]))
    parties = list(dict.fromkeys(ev.metrics["party"]))
    paths = []
    # cash flow per party per model (net, by year)
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.6), sharey=True, squeeze=False)
    net = ev.flows.groupby(["model", "party", "year"])["usd"].sum()
    years = np.arange(ev.components.years + 1)
    width = 0.8 / len(parties)
    for ax, model in zip(axes[0], models):
        for i, p in enumerate(parties):
            y = np.array([net.get((model, p, int(t)), 0.0) for t in years]) / 1e3
            ax.bar(years + (i - (len(parties) - 1) / 2) * width, y, width, label=p, color=f"C{i}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(model)
        ax.set_xlabel("year")
    axes[0][0].set_ylabel("net cash flow (k$)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{ev.plan.name}: cash flow per party", fontsize=10)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "cashflows.png"))
    plt.close(fig)
    # fee bands: NPV(fee) = a + b fee per party, band shaded
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.4), squeeze=False)
    from slopt.economics.contracts import fee_band

    for ax, model in zip(axes[0], models):
        band = fee_band(ev.components, model, ev.fees, ev.prices)
        fee = ev.fees.of(model)
        roots = [-a / b for a, b in band.coef.values() if abs(b) > 0 and np.isfinite(-a / b)]
        hi = max([fee, *roots, 1e-9]) * 1.5
        f = np.linspace(0.0, hi, 50)
        for i, (p, (a, b)) in enumerate(band.coef.items()):
            ax.plot(f, (a + b * f) / 1e3, label=p, color=f"C{parties.index(p) if p in parties else i}")
        if band.exists:
            ax.axvspan(band.lo, min(band.hi, hi), color="g", alpha=0.15, label="every NPV >= 0")
        ax.axvline(fee, color="k", ls=":", lw=0.8, label="contract fee")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{model}" + ("" if band.exists else " (no band)"))
        ax.set_xlabel(FEE_UNIT[model])
    axes[0][0].set_ylabel("NPV (k$)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / "fee_bands.png"))
    plt.close(fig)
    if risk is not None:
        fig, axes = plt.subplots(1, len(parties), figsize=(4.2 * len(parties), 3.4), squeeze=False)
        for ax, p in zip(axes[0], parties):
            for i, model in enumerate(models):
                col = f"{model}.{p}"
                if col in risk.npv:
                    ax.hist(risk.npv[col] / 1e3, bins=60, histtype="step", color=f"C{i}", label=model)
            ax.axvline(0, color="k", lw=0.5)
            ax.set_title(f"{p}: NPV over {risk.n_draws:,} draws")
            ax.set_xlabel("NPV (k$)")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / "npv_distributions.png"))
        plt.close(fig)
    return paths
