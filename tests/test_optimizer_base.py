"""基类 Optimizer 的公共行为：每一项都让 optlab 与 torch.optim 跑同一段代码再比较。"""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch
import torch.optim as toptim
from torch.optim.optimizer import required as torch_required

import optlab
from optlab.optimizer import required as optlab_required

REQUIRED = {"optlab": optlab_required, "torch.optim": torch_required}


def _params(n=3, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(2 + i, generator=gen, dtype=dtype).requires_grad_() for i in range(n)]


def _outcome(fn, lib):
    """运行 fn(lib)，返回 ("ok", 结果) 或 ("error", 异常类型)。"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("ok", fn(lib))
        except Exception as err:  # noqa: BLE001 - 比较的正是异常类型
            return ("error", type(err))


def same_outcome(fn):
    ours, theirs = _outcome(fn, optlab), _outcome(fn, toptim)
    assert ours[0] == theirs[0], f"optlab {ours} vs torch {theirs}"
    if ours[0] == "error":
        assert ours[1] is theirs[1], f"optlab 抛 {ours[1]}，torch 抛 {theirs[1]}"
    return ours, theirs


def _grads(params, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)


# ---------------------------------------------------------------- 构造与参数组
def test_params_as_tensors_dicts_and_defaults_fill_in():
    def build(lib):
        ps = _params()
        opt = lib.SGD([{"params": ps[:2], "lr": 0.5}, {"params": ps[2:]}], lr=0.1, momentum=0.9)
        return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]

    ours, theirs = same_outcome(build)
    assert ours[1] == theirs[1]
    assert ours[1][1]["lr"] == 0.1 and ours[1][0]["lr"] == 0.5


def test_single_tensor_group_params_is_wrapped_in_list():
    for lib in (optlab, toptim):
        p = _params(1)[0]
        opt = lib.SGD([{"params": p}], lr=0.1)
        assert opt.param_groups[0]["params"] == [p]


def test_named_parameters_give_param_names_in_groups_and_state_dict():
    def build(lib):
        model = torch.nn.Linear(3, 2)
        opt = lib.Adam(model.named_parameters(), lr=0.1)
        model(torch.ones(1, 3)).sum().backward()
        opt.step()
        sd = opt.state_dict()
        return opt.param_groups[0]["param_names"], sd["param_groups"][0]["param_names"]

    ours, theirs = same_outcome(build)
    assert ours[1] == theirs[1] == (["weight", "bias"], ["weight", "bias"])


@pytest.mark.parametrize(
    "case",
    [
        "tensor_params",
        "empty",
        "set_group",
        "non_tensor",
        "non_leaf",
        "duplicate_across_groups",
        "mixed_names_in_group",
        "named_then_unnamed_group",
        "unnamed_then_named_group",
        "group_not_dict",
        "missing_required_lr",
    ],
)
def test_construction_and_add_param_group_errors(case):
    def build(lib):
        ps = _params()
        if case == "tensor_params":
            return lib.SGD(ps[0], lr=0.1)
        if case == "empty":
            return lib.SGD([], lr=0.1)
        opt = lib.SGD([ps[0]], lr=0.1)
        if case == "set_group":
            opt.add_param_group({"params": {ps[1]}})
        elif case == "non_tensor":
            opt.add_param_group({"params": [ps[1], 3.0]})
        elif case == "non_leaf":
            opt.add_param_group({"params": [ps[1] * 2]})
        elif case == "duplicate_across_groups":
            opt.add_param_group({"params": [ps[0]]})
        elif case == "mixed_names_in_group":
            lib.SGD([("a", ps[1]), ps[2]], lr=0.1)
        elif case == "named_then_unnamed_group":
            named = lib.SGD([("a", ps[1])], lr=0.1)
            named.add_param_group({"params": [ps[2]]})
        elif case == "unnamed_then_named_group":
            opt.add_param_group({"params": [("b", ps[2])]})
        elif case == "group_not_dict":
            opt.add_param_group([ps[1]])
        elif case == "missing_required_lr":
            sgd = lib.SGD([ps[1]], lr=0.1)
            sgd.defaults["lr"] = REQUIRED[lib.__name__]
            sgd.add_param_group({"params": [ps[2]]})
        return opt

    ours, _ = same_outcome(build)
    assert ours[0] == "error"


def test_duplicate_params_in_one_group_warns_like_torch():
    for lib in (optlab, toptim):
        p = _params(1)[0]
        with pytest.warns(UserWarning, match="duplicate parameters"):
            lib.SGD([p, p], lr=0.1)


def test_add_param_group_named_groups_ok():
    def build(lib):
        ps = _params()
        opt = lib.SGD([("a", ps[0])], lr=0.1)
        opt.add_param_group({"params": [("b", ps[1]), ("c", ps[2])], "lr": 0.2})
        return [g["param_names"] for g in opt.param_groups]

    ours, theirs = same_outcome(build)
    assert ours[1] == theirs[1] == [["a"], ["b", "c"]]


# ---------------------------------------------------------------- zero_grad
@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("foreach", [False, True])
def test_zero_grad(set_to_none, foreach):
    def run(lib):
        ps = _params()
        opt = lib.SGD(ps, lr=0.1, foreach=foreach)
        _grads(ps)
        ps[1].grad = None
        kept = ps[0].grad
        opt.zero_grad(set_to_none=set_to_none)
        return [None if p.grad is None else p.grad.tolist() for p in ps], ps[0].grad is kept

    ours, theirs = same_outcome(run)
    assert ours[1] == theirs[1]
    if not set_to_none:
        assert ours[1][0][0] == [0.0, 0.0]


def test_zero_grad_detaches_grad_with_history():
    for lib in (optlab, toptim):
        p = _params(1)[0]
        opt = lib.SGD([p], lr=0.1)
        p.grad = torch.ones(2, requires_grad=True) * 2
        opt.zero_grad(set_to_none=False)
        assert p.grad.grad_fn is None and not p.grad.requires_grad
        assert p.grad.abs().sum().item() == 0.0


# ---------------------------------------------------------------- step 与闭包
def test_step_closure_returns_loss_and_runs_with_grad_but_update_without():
    seen = {}
    for lib in (optlab, toptim):
        ps = _params()
        opt = lib.SGD(ps, lr=0.1)

        def closure(ps=ps, opt=opt, lib=lib):
            seen[lib.__name__] = torch.is_grad_enabled()
            opt.zero_grad()
            loss = sum((p**2).sum() for p in ps)
            loss.backward()
            return loss

        with torch.no_grad():
            loss = opt.step(closure)
        assert torch.is_tensor(loss) and loss.requires_grad
        assert all(not p.grad_fn for p in ps)
        seen[lib.__name__ + "_params"] = [p.detach().clone() for p in ps]
    assert seen["optlab"] is True and seen["torch.optim"] is True
    for a, b in zip(seen["optlab_params"], seen["torch.optim_params"]):
        torch.testing.assert_close(a, b)


def test_step_without_closure_returns_none():
    for lib in (optlab, toptim):
        ps = _params()
        _grads(ps)
        assert lib.SGD(ps, lr=0.1).step() is None


def test_step_update_is_not_recorded_by_autograd():
    p = _params(1)[0]
    opt = optlab.Adam([p], lr=0.1)
    p.grad = torch.ones_like(p)
    opt.step()
    assert p.grad_fn is None and p.is_leaf


# ---------------------------------------------------------------- step 钩子
def test_step_pre_and_post_hooks_order_and_replacing_args():
    logs = {}
    for lib in (optlab, toptim):
        log = []
        ps = _params()
        opt = lib.SGD(ps, lr=0.1)
        _grads(ps)

        def pre(o, args, kwargs, log=log):
            log.append(("pre", len(args), args[0] is o, dict(kwargs)))
            return (o,), {"closure": lambda: 7.0}

        def post(o, args, kwargs, log=log):
            log.append(("post", len(args), args[0] is o, tuple(kwargs)))

        h1 = opt.register_step_pre_hook(pre)
        h2 = opt.register_step_post_hook(post)
        out = opt.step()
        log.append(("returned", out))
        h1.remove()
        h2.remove()
        opt.step()  # 钩子移除后不再被调用
        logs[lib.__name__] = log
    assert logs["optlab"] == logs["torch.optim"]
    assert logs["optlab"][-1] == ("returned", 7.0)


def test_step_pre_hook_bad_return_raises_like_torch():
    def run(lib):
        ps = _params()
        _grads(ps)
        opt = lib.SGD(ps, lr=0.1)
        opt.register_step_pre_hook(lambda o, a, k: 5)
        opt.step()

    ours, _ = same_outcome(run)
    assert ours[0] == "error"


def test_global_step_hooks():
    calls = []
    h1 = optlab.optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("pre"))
    h2 = optlab.optimizer.register_optimizer_step_post_hook(lambda o, a, k: calls.append("post"))
    try:
        ps = _params()
        _grads(ps)
        optlab.Adam(ps).step()
    finally:
        h1.remove()
        h2.remove()
    optlab.Adam(ps).step()
    assert calls == ["pre", "post"]


def test_user_subclass_with_own_step_gets_hooks():
    class SignDescent(optlab.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad.sign(), alpha=-group["lr"])
            return "done"

    class TorchSignDescent(toptim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad.sign(), alpha=-group["lr"])
            return "done"

    results = []
    for cls in (SignDescent, TorchSignDescent):
        ps = _params()
        _grads(ps)
        opt = cls(ps)
        log = []
        opt.register_step_pre_hook(lambda o, a, k, log=log: log.append("pre"))
        opt.register_step_post_hook(lambda o, a, k, log=log: log.append("post"))
        assert opt.step() == "done"
        results.append((log, [p.detach().clone() for p in ps], repr(opt).replace("Torch", "")))
    assert results[0][0] == results[1][0] == ["pre", "post"]
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b)
    assert results[0][2] == results[1][2]


# ---------------------------------------------------------------- state_dict 钩子
def _trained(lib, cls="Adam", **kw):
    ps = _params()
    opt = getattr(lib, cls)(ps, lr=0.1, **kw)
    _grads(ps)
    opt.step()
    return opt, ps


def test_state_dict_hooks_with_prepend():
    logs = {}
    for lib in (optlab, toptim):
        opt, _ = _trained(lib)
        log = []
        opt.register_state_dict_pre_hook(lambda o, log=log: log.append("pre-a"))
        opt.register_state_dict_pre_hook(lambda o, log=log: log.append("pre-b"), prepend=True)

        def post_a(o, sd, log=log):
            log.append("post-a")
            sd["extra"] = 1
            return sd

        def post_b(o, sd, log=log):
            log.append(("post-b", "extra" in sd))

        opt.register_state_dict_post_hook(post_a)
        opt.register_state_dict_post_hook(post_b, prepend=True)
        sd = opt.state_dict()
        log.append(sd["extra"])
        logs[lib.__name__] = log
    assert logs["optlab"] == logs["torch.optim"]


def test_load_state_dict_hooks_with_prepend_and_replacement():
    logs = {}
    for lib in (optlab, toptim):
        opt, _ = _trained(lib)
        sd = opt.state_dict()
        log = []

        def pre_a(o, s, log=log):
            log.append("pre-a")
            s = copy.deepcopy(s)
            s["param_groups"][0]["lr"] = 0.25
            return s

        opt.register_load_state_dict_pre_hook(pre_a)
        opt.register_load_state_dict_pre_hook(
            lambda o, s, log=log: log.append("pre-b"), prepend=True
        )
        opt.register_load_state_dict_post_hook(lambda o, log=log: log.append("post-a"))
        opt.register_load_state_dict_post_hook(
            lambda o, log=log: log.append(("post-b", o.param_groups[0]["lr"])), prepend=True
        )
        opt.load_state_dict(sd)
        log.append(opt.param_groups[0]["lr"])
        logs[lib.__name__] = log
    assert logs["optlab"] == logs["torch.optim"]
    assert logs["optlab"][-1] == 0.25


# ---------------------------------------------------------------- load_state_dict
@pytest.mark.parametrize("problem", ["group_count", "group_size"])
def test_load_state_dict_mismatch_raises_and_leaves_optimizer_unchanged(problem):
    def run(lib):
        opt, _ps = _trained(lib)
        other_ps = _params(4, seed=3)
        if problem == "group_count":
            other = lib.Adam([{"params": other_ps[:2]}, {"params": other_ps[2:]}])
        else:
            other = lib.Adam(other_ps)
        _grads(other_ps)
        other.step()
        before = copy.deepcopy(opt.state_dict())
        try:
            opt.load_state_dict(other.state_dict())
        except ValueError:
            after = opt.state_dict()
            torch.testing.assert_close(after["state"], before["state"])
            assert after["param_groups"] == before["param_groups"]
            raise

    ours, _ = same_outcome(run)
    assert ours == ("error", ValueError)


def test_load_state_dict_casts_state_to_param_dtype_and_keeps_step():
    dtypes = {}
    for lib in (optlab, toptim):
        src, _ = _trained(lib, "Adam")
        sd = src.state_dict()
        for s in sd["state"].values():  # 人为把状态变成 float64
            s["exp_avg"] = s["exp_avg"].double()
            s["exp_avg_sq"] = s["exp_avg_sq"].double()
            s["step"] = s["step"].double()
        dst = lib.Adam(_params(), lr=0.1)
        dst.load_state_dict(sd)
        dtypes[lib.__name__] = [
            {k: v.dtype for k, v in s.items()} for s in dst.state_dict()["state"].values()
        ]
    assert dtypes["optlab"] == dtypes["torch.optim"]
    assert dtypes["optlab"][0]["exp_avg"] == torch.float32


def test_load_state_dict_keeps_own_param_names_and_copies_input():
    for lib in (optlab, toptim):
        src, _ = _trained(lib)
        sd = src.state_dict()
        model = torch.nn.Linear(2, 1)
        dst = lib.SGD(model.named_parameters(), lr=0.3)
        src2 = lib.SGD([torch.zeros(2, 1, requires_grad=True), torch.zeros(1, requires_grad=True)])
        sd = src2.state_dict()
        dst.load_state_dict(sd)
        assert dst.param_groups[0]["param_names"] == ["weight", "bias"]
        assert sd["param_groups"][0]["params"] == [0, 1]  # 输入没有被改写


def test_load_state_dict_restores_missing_defaults():
    """旧 state_dict 缺少新超参数时，载入后组里补上默认值（与 torch 相同）。"""
    groups = {}
    for lib in (optlab, toptim):
        opt, _ = _trained(lib)
        sd = opt.state_dict()
        del sd["param_groups"][0]["decoupled_weight_decay"]
        opt.load_state_dict(sd)
        groups[lib.__name__] = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    assert groups["optlab"] == groups["torch.optim"]


# ---------------------------------------------------------------- repr 与序列化
@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_repr_matches_torch(cls):
    reprs = []
    for lib in (optlab, toptim):
        ps = _params()
        opt = getattr(lib, cls)([{"params": ps[:1], "lr": 0.5}, {"params": ps[1:]}], lr=0.1)
        reprs.append(repr(opt))
    assert reprs[0] == reprs[1]


def test_repr_with_named_params_matches_torch():
    reprs = [repr(lib.SGD(torch.nn.Linear(2, 2).named_parameters())) for lib in (optlab, toptim)]
    assert reprs[0] == reprs[1]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copy_and_pickle_round_trip_keeps_training_identically(how):
    opt, ps = _trained(optlab, "Adam", amsgrad=True)
    handle_calls = []
    opt.register_step_post_hook(lambda o, a, k: handle_calls.append(1))
    if how == "deepcopy":
        clone_opt = copy.deepcopy(opt)
    else:
        clone_opt = pickle.loads(pickle.dumps(opt))
    clone_ps = [p for g in clone_opt.param_groups for p in g["params"]]
    assert all(a is not b for a, b in zip(ps, clone_ps))
    for _ in range(3):
        _grads(ps, seed=5)
        _grads(clone_ps, seed=5)
        opt.step()
        clone_opt.step()
    for a, b in zip(ps, clone_ps):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(opt.state_dict()["state"], clone_opt.state_dict()["state"])


def test_pickle_drops_hooks_like_torch():
    counts = {}
    for lib in (optlab, toptim):
        opt, _ps = _trained(lib)
        opt.register_step_post_hook(print)
        clone = pickle.loads(pickle.dumps(opt))
        counts[lib.__name__] = len(clone._optimizer_step_post_hooks)
    assert counts["optlab"] == counts["torch.optim"]


def test_state_is_keyed_by_param_and_defaultdict():
    opt, ps = _trained(optlab)
    assert set(opt.state) == set(ps)
    assert opt.state[torch.zeros(1)] == {}


def test_no_grad_param_gets_no_state():
    for lib in (optlab, toptim):
        ps = _params()
        opt = lib.Adam(ps)
        _grads(ps)
        ps[1].grad = None
        opt.step()
        assert ps[1] not in opt.state and len(opt.state) == 2
