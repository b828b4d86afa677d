"""optlab.swa_utils 与 torch.optim.swa_utils 的对照测试。"""

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.optim import swa_utils as torch_swa
from torch.utils.data import DataLoader, TensorDataset

import optlab
from optlab import swa_utils as ours

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="需要 CUDA 设备"),
    ),
]


def make_bn_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def make_conv_bn_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 2),
    )


def make_data(n_batches=6, batch=16, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(batch, 4, generator=g).to(device) for _ in range(n_batches)]
    ys = [torch.randn(batch, 2, generator=g).to(device) for _ in range(n_batches)]
    return xs, ys


def train_one_epoch(model, opt, xs, ys):
    model.train()
    for x, y in zip(xs, ys):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def assert_state_close(actual: nn.Module, expected: nn.Module):
    a, e = actual.state_dict(), expected.state_dict()
    assert list(a) == list(e)
    for key in a:
        # 参照模型可能在 CPU 上，统一搬到 CPU 比较
        torch.testing.assert_close(a[key].cpu(), e[key].cpu(), msg=lambda m, k=key: f"{k}: {m}")


# ---------- 平均函数 ----------

AVG_VARIANTS = {
    "swa_default": lambda lib: {},
    "ema_avg_fn": lambda lib: {"avg_fn": lib.get_ema_avg_fn(0.9)},
    "ema_multi_avg_fn": lambda lib: {"multi_avg_fn": lib.get_ema_multi_avg_fn(0.9)},
    "swa_multi_avg_fn": lambda lib: {"multi_avg_fn": lib.get_swa_multi_avg_fn()},
    "swa_avg_fn": lambda lib: {"avg_fn": lib.get_swa_avg_fn()},
    "use_buffers": lambda lib: {"use_buffers": True},
    "ema_multi_use_buffers": lambda lib: {
        "multi_avg_fn": lib.get_ema_multi_avg_fn(0.8),
        "use_buffers": True,
    },
    "lambda": lambda lib: {"avg_fn": lambda avg, p, n: 0.1 * avg + 0.9 * p},
    "lambda_use_buffers": lambda lib: {
        "avg_fn": lambda avg, p, n: 0.1 * avg + 0.9 * p,
        "use_buffers": True,
    },
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("variant", list(AVG_VARIANTS))
def test_averaged_model_matches_torch(variant, device):
    model = make_bn_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    mine = ours.AveragedModel(model, **AVG_VARIANTS[variant](ours))
    # torch 的参照平均始终放在 CPU：其 CUDA 默认路径对整数缓冲区（num_batches_tracked）
    # 走 foreach 会报错，而 CPU 路径给出截断后的等权平均，这正是我们在所有设备上的约定
    ref = torch_swa.AveragedModel(model, device="cpu", **AVG_VARIANTS[variant](torch_swa))
    xs, ys = make_data(n_batches=2, device=device)
    for _ in range(25):
        train_one_epoch(model, opt, xs, ys)
        mine.update_parameters(model)
        ref.update_parameters(model)
        assert_state_close(mine, ref)
    assert mine.n_averaged.item() == 25
    # 平均后的模型确实不同于原模型（否则上面的对照没有意义）
    assert not torch.allclose(mine.module[0].weight, model[0].weight)
    x = xs[0]
    torch.testing.assert_close(mine(x).cpu(), ref(x.cpu()))
    torch.testing.assert_close(mine(x), mine.module(x))


def test_running_mean_is_true_mean_of_snapshots():
    model = make_bn_model()
    mine = ours.AveragedModel(model)
    snapshots = []
    with torch.no_grad():
        for k in range(7):
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            snapshots.append([p.clone() for p in model.parameters()])
            mine.update_parameters(model)
    for i, p in enumerate(mine.module.parameters()):
        torch.testing.assert_close(p, torch.stack([s[i] for s in snapshots]).mean(0))


class _IntegerBufferModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("counts", torch.zeros(6, dtype=torch.long))


@pytest.mark.parametrize("variant", ["swa_default", "ema_multi_avg_fn", "lambda"])
def test_integer_buffers_averaged_like_torch(variant):
    # 整数缓冲区：按浮点平均后截断写回，取值特意选成四舍五入与截断不同
    torch.manual_seed(0)
    model = _IntegerBufferModel()
    kwargs = {"use_buffers": True}
    mine = ours.AveragedModel(model, **AVG_VARIANTS[variant](ours), **kwargs)
    ref = torch_swa.AveragedModel(model, **AVG_VARIANTS[variant](torch_swa), **kwargs)
    for values in ([10, -10, 7, 0, 5, -5], [3, -3, -4, 5, 8, -8], [0, 9, -9, 2, 1, -1]):
        model.counts.copy_(torch.tensor(values))
        mine.update_parameters(model)
        ref.update_parameters(model)
        assert_state_close(mine, ref)
    assert mine.module.counts.dtype == torch.long


def test_buffers_copied_without_use_buffers_and_averaged_with():
    model = make_bn_model()
    xs, _ = make_data()
    plain = ours.AveragedModel(model)
    averaged_buffers = ours.AveragedModel(model, use_buffers=True)
    history = []
    for x in xs:
        model(x)
        history.append(model[1].running_mean.clone())
        plain.update_parameters(model)
        averaged_buffers.update_parameters(model)
    torch.testing.assert_close(plain.module[1].running_mean, model[1].running_mean)
    torch.testing.assert_close(
        averaged_buffers.module[1].running_mean, torch.stack(history).mean(0)
    )


def test_averaged_model_device_and_structure():
    model = make_bn_model()
    mine = ours.AveragedModel(model, device="cpu")
    ref = torch_swa.AveragedModel(model, device="cpu")
    assert mine.module is not model
    assert mine.n_averaged.dtype == ref.n_averaged.dtype == torch.long
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert mine.use_buffers is False and mine.avg_fn is None and mine.multi_avg_fn is None


def test_averaged_model_state_dict_moves_both_ways():
    model = make_bn_model()
    xs, ys = make_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mine = ours.AveragedModel(model, use_buffers=True)
    for _ in range(3):
        train_one_epoch(model, opt, xs, ys)
        mine.update_parameters(model)

    ref = torch_swa.AveragedModel(make_bn_model(seed=5), use_buffers=True)
    ref.load_state_dict(mine.state_dict())
    assert_state_close(ref, mine)
    assert ref.n_averaged.item() == 3

    back = ours.AveragedModel(make_bn_model(seed=6), use_buffers=True)
    back.load_state_dict(ref.state_dict())
    assert_state_close(back, ref)
    # 载入后继续平均，与 torch 一致
    train_one_epoch(model, opt, xs, ys)
    back.update_parameters(model)
    ref.update_parameters(model)
    assert_state_close(back, ref)


def test_both_avg_fns_rejected_like_torch():
    model = make_bn_model()

    def build(lib):
        lib.AveragedModel(
            model, avg_fn=lib.get_swa_avg_fn(), multi_avg_fn=lib.get_swa_multi_avg_fn()
        )

    with pytest.raises(Exception) as expected:
        build(torch_swa)
    with pytest.raises(type(expected.value)):
        build(ours)


def test_swa_multi_avg_fn_with_integer_buffers_fails_like_torch():
    model = make_bn_model()
    xs, _ = make_data()

    def run(lib):
        averaged = lib.AveragedModel(
            model, multi_avg_fn=lib.get_swa_multi_avg_fn(), use_buffers=True
        )
        for x in xs[:2]:
            model(x)
            averaged.update_parameters(model)

    with pytest.raises(Exception) as expected:
        run(torch_swa)
    with pytest.raises(type(expected.value)):
        run(ours)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("name", ["get_swa_avg_fn", "get_ema_avg_fn"])
def test_single_tensor_avg_fns_match_torch(name, dtype):
    g = torch.Generator().manual_seed(3)
    avg = (torch.randn(5, generator=g) * 10).to(dtype)
    cur = (torch.randn(5, generator=g) * 10).to(dtype)
    for n in (torch.tensor(4), 4):
        expected = getattr(torch_swa, name)()(avg.clone(), cur, n)
        actual = getattr(ours, name)()(avg.clone(), cur, n)
        torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("name", ["get_swa_multi_avg_fn", "get_ema_multi_avg_fn"])
def test_multi_tensor_avg_fns_match_torch(name, dtype):
    g = torch.Generator().manual_seed(4)
    avgs = [(torch.randn(3, 2, generator=g) * 10).to(dtype) for _ in range(3)]
    curs = [(torch.randn(3, 2, generator=g) * 10).to(dtype) for _ in range(3)]
    expected = [a.clone() for a in avgs]
    actual = [a.clone() for a in avgs]
    try:
        getattr(torch_swa, name)()(expected, curs, torch.tensor(2))
    except (RuntimeError, TypeError, ValueError) as error:  # torch 拒绝：异常类型须一致
        with pytest.raises(type(error)):
            getattr(ours, name)()(actual, curs, torch.tensor(2))
        return
    assert getattr(ours, name)()(actual, curs, torch.tensor(2)) is None
    torch.testing.assert_close(actual, expected)
    assert not torch.equal(actual[0], avgs[0])


# ---------- update_bn ----------


def _loaders(kind, xs, ys):
    if kind == "tensors":
        return xs
    if kind == "tuples":
        return list(zip(xs, ys))
    dataset = TensorDataset(torch.cat(xs).cpu(), torch.cat(ys).cpu())
    return DataLoader(dataset, batch_size=len(xs[0]), shuffle=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["tensors", "tuples", "dataloader"])
def test_update_bn_matches_torch(kind, device):
    model = make_bn_model()
    xs, ys = make_data(n_batches=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(model, opt, xs, ys)
    model[1].momentum = 0.3
    model.eval()
    model = model.to(device)
    twin = copy.deepcopy(model)
    # DataLoader 给出 CPU 张量，由 device 参数搬到模型所在设备
    loader_device = device if kind != "dataloader" else "cpu"
    xs_d = [x.to(loader_device) for x in xs]
    ys_d = [y.to(loader_device) for y in ys]
    ours.update_bn(_loaders(kind, xs_d, ys_d), model, device=device)
    torch_swa.update_bn(_loaders(kind, xs_d, ys_d), twin, device=device)
    assert_state_close(model, twin)
    assert model[1].momentum == 0.3
    assert not model.training and not model[1].training
    assert model[1].num_batches_tracked.item() == 5


def test_update_bn_is_cumulative_average():
    torch.manual_seed(2)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 1))
    xs, _ = make_data(n_batches=4, batch=8)
    model[0].running_mean.fill_(5.0)
    ours.update_bn(xs, model)
    torch.testing.assert_close(model[0].running_mean, torch.cat(xs).mean(0))
    expected_var = torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0)
    torch.testing.assert_close(model[0].running_var, expected_var)
    assert model[0].momentum == 0.1 and model.training


def test_update_bn_conv_model_matches_torch():
    model = make_conv_bn_model()
    g = torch.Generator().manual_seed(7)
    batches = [(torch.randn(4, 1, 6, 6, generator=g), torch.zeros(4)) for _ in range(3)]
    twin = copy.deepcopy(model)
    ours.update_bn(batches, model)
    torch_swa.update_bn(batches, twin)
    assert_state_close(model, twin)


class _ExplodingLoader:
    def __iter__(self):
        raise AssertionError("没有 BatchNorm 时不应读取数据")


def test_update_bn_without_batchnorm_does_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).eval()
    before = copy.deepcopy(model.state_dict())
    ours.update_bn(_ExplodingLoader(), model)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


# ---------- SWALR ----------


def _twin_optimizers(lr_second=0.5):
    def build(lib):
        torch.manual_seed(0)
        groups = [
            {"params": [nn.Parameter(torch.zeros(2))]},
            {"params": [nn.Parameter(torch.zeros(2))], "lr": lr_second},
        ]
        return lib.SGD(groups, lr=1.0, momentum=0.9)

    return build


@pytest.mark.parametrize("anneal_epochs", [0, 1, 5, 10])
@pytest.mark.parametrize("swa_lr", [0.05, [0.05, 0.2]], ids=["scalar", "per_group"])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_lr_sequence_matches_torch(strategy, swa_lr, anneal_epochs):
    build = _twin_optimizers()
    for lib in (torch.optim, optlab):
        opt_ours, opt_ref = build(lib), build(torch.optim)
        mine = ours.SWALR(opt_ours, swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
        ref = torch_swa.SWALR(
            opt_ref, swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy
        )
        seen = set()
        for _ in range(35):
            assert mine.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)
            ours_lrs = [g["lr"] for g in opt_ours.param_groups]
            torch.testing.assert_close(ours_lrs, [g["lr"] for g in opt_ref.param_groups])
            seen.add(tuple(round(lr, 12) for lr in ours_lrs))
            opt_ours.step()
            opt_ref.step()
            mine.step()
            ref.step()
        assert [g["swa_lr"] for g in opt_ours.param_groups] == [
            g["swa_lr"] for g in opt_ref.param_groups
        ]
        expected_final = swa_lr if isinstance(swa_lr, list) else [swa_lr, swa_lr]
        assert mine.get_last_lr() == pytest.approx(expected_final)
        assert len(seen) == anneal_epochs + 1


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_after_other_scheduler_matches_torch(strategy):
    build = _twin_optimizers()
    opt_ours, opt_ref = build(torch.optim), build(torch.optim)
    cos_ours = torch.optim.lr_scheduler.CosineAnnealingLR(opt_ours, T_max=20)
    cos_ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt_ref, T_max=20)
    for _ in range(8):
        opt_ours.step(), opt_ref.step(), cos_ours.step(), cos_ref.step()
    mine = ours.SWALR(opt_ours, 0.02, anneal_epochs=6, anneal_strategy=strategy)
    ref = torch_swa.SWALR(opt_ref, 0.02, anneal_epochs=6, anneal_strategy=strategy)
    for _ in range(12):
        opt_ours.step(), opt_ref.step(), mine.step(), ref.step()
        assert mine.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)


def test_swalr_state_dict_layout_and_round_trip():
    build = _twin_optimizers()
    opt_ours, opt_ref = build(torch.optim), build(torch.optim)
    mine = ours.SWALR(opt_ours, [0.1, 0.3], anneal_epochs=7, anneal_strategy="linear")
    ref = torch_swa.SWALR(opt_ref, [0.1, 0.3], anneal_epochs=7, anneal_strategy="linear")
    for _ in range(3):
        opt_ours.step(), opt_ref.step(), mine.step(), ref.step()
    assert mine.state_dict() == ref.state_dict()
    assert "anneal_func" not in mine.state_dict()

    # torch 的状态载入我们的调度器（退火方式也随之切换），继续走应一致
    opt_new = build(torch.optim)
    for group, old in zip(opt_new.param_groups, opt_ref.param_groups):
        group["lr"], group["initial_lr"] = old["lr"], old["initial_lr"]
    resumed = ours.SWALR(opt_new, [0.1, 0.3], anneal_epochs=1, anneal_strategy="cos")
    resumed.load_state_dict(ref.state_dict())
    assert resumed.anneal_func(0.25) == pytest.approx(0.25)
    for _ in range(6):
        opt_new.step(), opt_ref.step(), resumed.step(), ref.step()
        assert resumed.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)

    # 反方向：我们的状态载入 torch 的调度器
    opt_back = build(torch.optim)
    back = torch_swa.SWALR(opt_back, [0.1, 0.3])
    back.load_state_dict(mine.state_dict())
    assert back.state_dict() == mine.state_dict()


def test_swalr_get_lr_outside_step_warns():
    """与 torch 相同的一条提醒，且指向调用 get_lr 的那一行（本文件）。"""
    caught = {}
    for name, module in (("torch", torch_swa), ("ours", ours)):
        sched = module.SWALR(_twin_optimizers()(torch.optim), 0.1)
        with warnings.catch_warnings(record=True) as caught[name]:
            warnings.simplefilter("always")
            sched.get_lr()
    assert [str(w.message) for w in caught["ours"]] == [str(w.message) for w in caught["torch"]]
    assert [w.category for w in caught["ours"]] == [UserWarning]
    assert caught["ours"][0].filename == caught["torch"][0].filename == __file__


def test_swalr_tensor_swa_lr_is_copied_like_torch():
    """张量 swa_lr 与 torch 一样复制一份（保留计算图，不与调用者共享存储），学习率序列相同。"""
    seen = {}
    for name, module in (("torch", torch_swa), ("ours", ours)):
        opt = _twin_optimizers()(torch.optim)
        swa_lr = torch.tensor(0.05, requires_grad=True)
        sched = module.SWALR(opt, swa_lr, anneal_epochs=3)
        stored = [g["swa_lr"] for g in opt.param_groups]
        assert all(s is not swa_lr and s.data_ptr() != swa_lr.data_ptr() for s in stored)
        lrs = []
        for _ in range(5):
            opt.step()
            sched.step()
            lrs.append([float(g["lr"].detach()) for g in opt.param_groups])
        seen[name] = ([(s.requires_grad, type(s.grad_fn).__name__) for s in stored], lrs)
    assert seen["ours"] == seen["torch"]


BAD_SWALR_ARGS = {
    "swa_lr_too_short": {"swa_lr": [0.1]},
    "swa_lr_too_long": {"swa_lr": [0.1, 0.2, 0.3]},
    "negative_epochs": {"swa_lr": 0.1, "anneal_epochs": -1},
    "float_epochs": {"swa_lr": 0.1, "anneal_epochs": 2.0},
    "str_epochs": {"swa_lr": 0.1, "anneal_epochs": "3"},
    "unknown_strategy": {"swa_lr": 0.1, "anneal_strategy": "exp"},
    "strategy_and_epochs": {"swa_lr": 0.1, "anneal_strategy": "exp", "anneal_epochs": -1},
    "swa_lr_none": {"swa_lr": None},
    "resume_without_initial_lr": {"swa_lr": 0.1, "last_epoch": 3},
}


@pytest.mark.parametrize("kwargs", list(BAD_SWALR_ARGS.values()), ids=list(BAD_SWALR_ARGS))
def test_swalr_bad_inputs_raise_like_torch(kwargs):
    build = _twin_optimizers()
    with pytest.raises(Exception) as expected:
        torch_swa.SWALR(build(torch.optim), **kwargs)
    with pytest.raises(type(expected.value)):
        ours.SWALR(build(torch.optim), **kwargs)


# ---------- 完整 SWA 流程 ----------


def run_swa(swa_lib, sgd, cosine, device, epochs=12, swa_start=6):
    model = make_bn_model(seed=3).to(device)
    xs, ys = make_data(n_batches=4, seed=9, device=device)
    opt = sgd(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = cosine(opt, T_max=epochs)
    swa_model = swa_lib.AveragedModel(model)
    swa_scheduler = swa_lib.SWALR(opt, swa_lr=0.03, anneal_epochs=3)
    lrs = []
    for epoch in range(epochs):
        train_one_epoch(model, opt, xs, ys)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
        else:
            scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    swa_lib.update_bn(list(zip(xs, ys)), swa_model)
    swa_model.eval()
    with torch.no_grad():
        return swa_model(xs[0]), swa_model, lrs


@pytest.mark.parametrize("device", DEVICES)
def test_full_swa_loop_matches_torch(device):
    # optlab 一侧全部用 optlab：SGD、CosineAnnealingLR 与 swa_utils
    pred_ours, model_ours, lrs_ours = run_swa(
        ours, optlab.SGD, optlab.lr_scheduler.CosineAnnealingLR, device
    )
    pred_ref, model_ref, lrs_ref = run_swa(
        torch_swa, torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR, device
    )
    assert lrs_ours == pytest.approx(lrs_ref, rel=1e-9)
    assert lrs_ours[-1] == pytest.approx(0.03)
    assert model_ours.n_averaged.item() == 6
    assert_state_close(model_ours, model_ref)
    torch.testing.assert_close(pred_ours, pred_ref)
