"""类型上是 torch 的优化器 / 调度器，行为上完全是 optlab 自己的代码。

证明方法：把 ``torch.optim.Optimizer``、``torch.optim.lr_scheduler.LRScheduler`` 与
``ReduceLROnPlateau`` 类体里定义的每个可调用属性都换成一调用就抛异常的函数，
然后用 optlab 训练、调度、保存/载入 state_dict、注册钩子、pickle —— 全部照常工作。
"""

from __future__ import annotations

import copy
import pickle
import types
import warnings

import pytest
import torch
import torch.optim.optimizer as torch_optimizer_module
from torch.optim import lr_scheduler as torch_sched

import optlab
from optlab import lr_scheduler as lab_sched
from optlab import swa_utils

_SKIP = {"__dict__", "__weakref__", "__module__", "__doc__", "__annotations__", "__qualname__"}


class TorchBodyRan(AssertionError):
    pass


def _raiser(owner: str, name: str):
    def boom(*args, **kwargs):
        raise TorchBodyRan(f"torch's {owner}.{name} ran")

    return boom


def _poison(monkeypatch, cls) -> list[str]:
    """把 cls 自己定义的每个可调用属性（函数、静态/类方法、property）都换成抛异常的版本。"""
    names = []
    for name, attr in list(vars(cls).items()):
        if name in _SKIP:
            continue
        boom = _raiser(cls.__name__, name)
        if isinstance(attr, staticmethod):
            replacement = staticmethod(boom)
        elif isinstance(attr, classmethod):
            replacement = classmethod(boom)
        elif isinstance(attr, property):
            replacement = property(boom)
        elif callable(attr):
            replacement = boom
        else:
            continue
        monkeypatch.setattr(cls, name, replacement)
        names.append(name)
    return names


@pytest.fixture
def poisoned(monkeypatch):
    names = []
    for cls in (torch.optim.Optimizer, torch_sched.LRScheduler, torch_sched.ReduceLROnPlateau):
        names += _poison(monkeypatch, cls)
    # 确认真的换掉了：直接调用 torch 的方法体会抛异常
    with pytest.raises(TorchBodyRan):
        torch.optim.Optimizer.zero_grad(None)
    return names


def test_every_optimizer_and_scheduler_is_a_torch_type():
    for name in optlab.__all__:
        obj = getattr(optlab, name)
        if isinstance(obj, type):
            assert issubclass(obj, torch.optim.Optimizer), name
    for name in lab_sched.__all__:
        assert issubclass(getattr(lab_sched, name), torch_sched.LRScheduler), name
    assert issubclass(lab_sched.ReduceLROnPlateau, torch_sched.ReduceLROnPlateau)
    assert issubclass(swa_utils.SWALR, torch_sched.LRScheduler)
    assert issubclass(swa_utils.AveragedModel, torch.nn.Module)


def test_all_public_names_of_torch_optim_exist_in_optlab():
    for module, ours in (
        (torch.optim, optlab),
        (torch_sched, lab_sched),
        (torch.optim.swa_utils, swa_utils),
    ):
        missing = [name for name in module.__all__ if not hasattr(ours, name)]
        assert not missing, f"{module.__name__}: {missing}"
        assert set(module.__all__) <= set(ours.__all__)


def test_the_poison_covers_every_method_torch_defines(poisoned):
    for expected in ("__init__", "step", "zero_grad", "state_dict", "load_state_dict",
                     "add_param_group", "_patch_step_function", "profile_hook_step",
                     "__setstate__", "__getstate__", "__repr__", "register_step_pre_hook",
                     "_update_lr", "_initial_step", "get_last_lr", "_reduce_lr", "in_cooldown"):  # fmt: skip
        assert expected in poisoned


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)


def test_train_schedule_checkpoint_and_hook_with_torch_bodies_poisoned(poisoned):
    x, y = _data()
    model = _model()
    opt = optlab.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
    h3 = torch_optimizer_module.register_optimizer_step_pre_hook(
        lambda o, a, k: seen.append("global-pre")
    )
    h4 = optlab.optimizer.register_optimizer_step_post_hook(
        lambda o, a, k: seen.append("global-post")
    )
    opt.register_state_dict_pre_hook(lambda o: seen.append("sd-pre"))
    opt.register_state_dict_post_hook(lambda o, sd: seen.append("sd-post"))
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append("load-pre"))
    opt.register_load_state_dict_post_hook(lambda o: seen.append("load-post"))
    warm = lab_sched.LinearLR(opt, start_factor=0.1, total_iters=3)
    cos = lab_sched.CosineAnnealingLR(opt, T_max=10)
    sched = lab_sched.SequentialLR(opt, [warm, cos], milestones=[3])
    plateau_opt = optlab.SGD(_model().parameters(), lr=0.1, momentum=0.9)
    plateau = lab_sched.ReduceLROnPlateau(plateau_opt, patience=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 调用顺序正确：不应有“先调度后优化”的警告
            for _ in range(6):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                opt.step()
                sched.step()
                plateau.step(1.0)
        assert seen[:4] == ["global-pre", "pre", "post", "global-post"]
        assert plateau.in_cooldown is False
        assert plateau_opt.param_groups[0]["lr"] < 0.1
        sd, ssd = opt.state_dict(), sched.state_dict()
        sd = copy.deepcopy(sd)
        model2 = copy.deepcopy(model)
        opt2 = optlab.AdamW(model2.parameters(), lr=0.05, weight_decay=0.1)
        opt2.register_load_state_dict_pre_hook(lambda o, sd: seen.append("load-pre"))
        opt2.register_load_state_dict_post_hook(lambda o: seen.append("load-post"))
        opt2.load_state_dict(sd)
        w2 = lab_sched.LinearLR(opt2, start_factor=0.1, total_iters=3)
        c2 = lab_sched.CosineAnnealingLR(opt2, T_max=10)
        sched2 = lab_sched.SequentialLR(opt2, [w2, c2], milestones=[3])
        sched2.load_state_dict(ssd)
        opt2.load_state_dict(sd)
        for o, m, s in ((opt, model, sched), (opt2, model2, sched2)):
            o.zero_grad(set_to_none=False)
            torch.nn.functional.mse_loss(m(x), y).backward()
            o.step()
            s.step()
        for a, b in zip(model.parameters(), model2.parameters()):
            torch.testing.assert_close(a, b)
        assert {"sd-pre", "sd-post", "load-pre", "load-post"} <= set(seen)
        assert "Parameter Group 0" in repr(opt)
        # pickle / deepcopy 走 __getstate__ / __setstate__
        clone = pickle.loads(pickle.dumps(opt2))
        assert clone.state_dict()["param_groups"][0]["lr"] == opt2.param_groups[0]["lr"]
        assert copy.deepcopy(opt2).param_groups[0]["weight_decay"] == 0.1
    finally:
        for h in (h1, h2, h3, h4):
            h.remove()


def test_every_algorithm_steps_with_torch_bodies_poisoned(poisoned):
    for name in optlab.__all__:
        cls = getattr(optlab, name)
        if not isinstance(cls, type) or name in ("Optimizer",):
            continue
        torch.manual_seed(0)
        shape = (3, 3)
        p = torch.nn.Parameter(torch.randn(shape))
        kwargs = {"lr": 0.01}
        opt = cls([p], **kwargs)

        def closure(p=p, name=name, opt=opt):
            opt.zero_grad()
            if name == "SparseAdam":
                loss = torch.nn.functional.embedding(torch.tensor([0, 2]), p, sparse=True).sum()
            else:
                loss = (p**2).sum()
            loss.backward()
            return loss

        before = p.detach().clone()
        opt.step(closure)
        assert not torch.equal(before, p.detach()), name
        opt.load_state_dict(opt.state_dict())


def test_every_scheduler_runs_with_torch_bodies_poisoned(poisoned):
    def make(kind, opt):
        return {
            "LambdaLR": lambda: lab_sched.LambdaLR(opt, lambda e: 0.9**e),
            "MultiplicativeLR": lambda: lab_sched.MultiplicativeLR(opt, lambda e: 0.9),
            "StepLR": lambda: lab_sched.StepLR(opt, 2),
            "MultiStepLR": lambda: lab_sched.MultiStepLR(opt, [1, 3]),
            "ConstantLR": lambda: lab_sched.ConstantLR(opt),
            "LinearLR": lambda: lab_sched.LinearLR(opt),
            "ExponentialLR": lambda: lab_sched.ExponentialLR(opt, 0.9),
            "PolynomialLR": lambda: lab_sched.PolynomialLR(opt, 4),
            "CosineAnnealingLR": lambda: lab_sched.CosineAnnealingLR(opt, 4),
            "CosineAnnealingWarmRestarts": lambda: lab_sched.CosineAnnealingWarmRestarts(opt, 2),
            "CyclicLR": lambda: lab_sched.CyclicLR(opt, 0.01, 0.1, step_size_up=2),
            "OneCycleLR": lambda: lab_sched.OneCycleLR(opt, 0.1, total_steps=10),
            "ChainedScheduler": lambda: lab_sched.ChainedScheduler(
                [lab_sched.StepLR(opt, 2), lab_sched.ExponentialLR(opt, 0.9)]
            ),
            "SequentialLR": lambda: lab_sched.SequentialLR(
                opt, [lab_sched.ConstantLR(opt), lab_sched.ExponentialLR(opt, 0.9)], [2]
            ),
            "SWALR": lambda: swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=3),
        }[kind]()

    kinds = [n for n in lab_sched.__all__ if n not in ("LRScheduler", "ReduceLROnPlateau")]
    for kind in [*kinds, "SWALR"]:
        p = torch.nn.Parameter(torch.ones(2))
        opt = optlab.SGD([p], lr=0.1, momentum=0.9)
        sched = make(kind, opt)
        lrs = []
        for _ in range(5):
            p.grad = torch.ones(2)
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        sched.load_state_dict(sched.state_dict())
        assert all(isinstance(lr, float) for lr in lrs), kind


def test_torch_internal_helpers_have_optlab_versions():
    """torch 的其他部分可能直接调用的基类内部方法，optlab 都有自己的实现。"""
    p = torch.nn.Parameter(torch.randn(2))
    opt = optlab.Adam([p], lr=0.1)
    for name, attr in vars(torch.optim.Optimizer).items():
        if name in _SKIP or not (callable(attr) or isinstance(attr, (staticmethod, property))):
            continue
        assert name in vars(optlab.Optimizer), f"optlab.Optimizer 没有覆盖 torch 的 {name}"
    grouped = opt._group_tensors_by_device_and_dtype(
        [[torch.zeros(1), torch.zeros(1, dtype=torch.float64), torch.ones(1)], [1, 2, 3]]
    )
    assert sorted(idx for _, (_, idx) in grouped.items() for idx in idx) == [0, 1, 2]
    assert grouped[(torch.device("cpu"), torch.float32)][0][1] == [1, 3]
    value = opt._process_value_according_to_param_policy(
        p, torch.zeros(2, dtype=torch.float64), 0, [{"params": [0]}], "exp_avg"
    )
    assert value.dtype == torch.float32
    assert isinstance(opt.step, types.MethodType) and opt.step.hooked
    for cls in (torch_sched.LRScheduler, torch_sched.ReduceLROnPlateau):
        for name, attr in vars(cls).items():
            if name in _SKIP or not (callable(attr) or isinstance(attr, property)):
                continue
            ours = lab_sched.ReduceLROnPlateau if cls is torch_sched.ReduceLROnPlateau else None
            owners = [vars(lab_sched.LRScheduler)] + ([vars(ours)] if ours else [])
            assert any(name in o for o in owners), f"optlab 没有覆盖 torch {cls.__name__}.{name}"


def test_user_subclass_without_step_raises_not_implemented():
    class Mine(optlab.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    class TorchMine(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    for cls in (Mine, TorchMine):
        with pytest.raises(NotImplementedError):
            cls([torch.nn.Parameter(torch.zeros(1))]).step()


def test_global_hooks_are_shared_with_torch():
    calls = []
    h = optlab.optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append(type(o)))
    try:
        for cls in (optlab.SGD, torch.optim.SGD):
            p = torch.nn.Parameter(torch.zeros(1))
            p.grad = torch.ones(1)
            cls([p], lr=0.1).step()
    finally:
        h.remove()
    assert calls == [optlab.SGD, torch.optim.SGD]
