"""What the spawned ranks of the distributed tests run (importable by name)."""

from __future__ import annotations


def simulate(path: str, x, y, runs: list[dict]):
    """Rank r's share of ``load(path).simulate(x, y, **options)`` for each options dict
    of ``runs``: rank 0 returns their metrics and predictions, the others None."""
    import torch

    from ann2snn import load
    from ann2snn.scale import distributed

    torch.set_num_threads(1)
    ctx = distributed.init()
    try:
        snn = load(path)
        results = [snn.simulate(x, y, **options) for options in runs]
    finally:
        distributed.finish()
    if not ctx.is_root:
        assert results == [None] * len(runs)
        return None
    return [plain(r) for r in results]


def plain(res) -> dict:
    """Everything of a result that must not depend on the number of processes."""
    m = res.metrics()
    m.pop("wall_time_s")
    layers = [(d.count_hist, d.act_hist, d.act_over, d.scatter) for d in res.layers]
    ex = res.example
    return {"metrics": m, "preds": res.snn_predictions, "readout": res.snn_readout,
            "ann": res.ann_predictions, "layers": layers,
            "example": None if ex is None else sorted(
                (k, v.tobytes()) for k, v in ex.arrays.items())}
