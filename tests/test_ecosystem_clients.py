"""真实的上层库驱动 optlab：transformers、PyTorch Lightning、torch 自己的调度器与 SWALR、GradScaler。

每个场景都把同一段训练用 torch.optim 再跑一遍，最终参数（或学习率序列）必须一致。
模型都在代码里现搭，不联网、不下载；日志与输出目录都放在 pytest 的临时目录里。
"""

from __future__ import annotations

import os
import warnings

# 任何 hub 访问都不允许（须在导入 transformers 之前设置）
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import torch
from differential_support import call_order_warnings
from torch.optim import lr_scheduler as torch_sched
from torch.optim import swa_utils as torch_swa

import optlab

LIBS = {"torch": torch.optim, "optlab": optlab}


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _batches(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 4, generator=g), torch.randn(8, 1, generator=g)) for _ in range(n)]


def _close(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


# ---------------------------------------------------------------- torch 的调度器与 SWALR


TORCH_SCHEDULERS = {
    "LambdaLR": lambda o: torch_sched.LambdaLR(o, lambda e: 1 / (e + 1)),
    "MultiplicativeLR": lambda o: torch_sched.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda o: torch_sched.StepLR(o, 2, gamma=0.5),
    "MultiStepLR": lambda o: torch_sched.MultiStepLR(o, [1, 3]),
    "ConstantLR": lambda o: torch_sched.ConstantLR(o, factor=0.5, total_iters=2),
    "LinearLR": lambda o: torch_sched.LinearLR(o, total_iters=3),
    "ExponentialLR": lambda o: torch_sched.ExponentialLR(o, 0.8),
    "PolynomialLR": lambda o: torch_sched.PolynomialLR(o, total_iters=4, power=2),
    "CosineAnnealingLR": lambda o: torch_sched.CosineAnnealingLR(o, 4, eta_min=0.001),
    "WarmRestarts": lambda o: torch_sched.CosineAnnealingWarmRestarts(o, 2, T_mult=2),
    "CyclicLR": lambda o: torch_sched.CyclicLR(o, 0.01, 0.1, step_size_up=2),
    "OneCycleLR": lambda o: torch_sched.OneCycleLR(o, 0.2, total_steps=8),
    "SequentialLR": lambda o: torch_sched.SequentialLR(
        o, [torch_sched.LinearLR(o, total_iters=2), torch_sched.ExponentialLR(o, 0.7)], [2]
    ),
    "ChainedScheduler": lambda o: torch_sched.ChainedScheduler(
        [torch_sched.StepLR(o, 2), torch_sched.ExponentialLR(o, 0.9)]
    ),
    "ReduceLROnPlateau": lambda o: torch_sched.ReduceLROnPlateau(o, patience=0, factor=0.5),
    "SWALR": lambda o: torch_swa.SWALR(o, swa_lr=0.02, anneal_epochs=3),
}


def _drive(lib_name, make_scheduler, steps=7):
    model = _model()
    opt = LIBS[lib_name].SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make_scheduler(opt)
    lrs = []
    for x, y in _batches(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if isinstance(sched, torch_sched.ReduceLROnPlateau):
            sched.step(1.0)
        else:
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs, _params(model), sched.state_dict()


@pytest.mark.parametrize("kind", list(TORCH_SCHEDULERS))
def test_torch_schedulers_drive_optlab(kind):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 调用顺序正确：torch 的顺序检查不应报警
        ours = _drive("optlab", TORCH_SCHEDULERS[kind])
    theirs = _drive("torch", TORCH_SCHEDULERS[kind])
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    _close(ours[1], theirs[1])


@pytest.mark.parametrize("wrong_order", [False, True])
@pytest.mark.parametrize("replace_step", [False, True])
def test_torch_scheduler_call_order_warning_same_as_torch(wrong_order, replace_step):
    ours, theirs = (
        call_order_warnings(
            LIBS[lib].SGD, torch_sched.StepLR, wrong_order=wrong_order, replace_step=replace_step
        )
        for lib in ("optlab", "torch")
    )
    assert ours == theirs
    assert bool(ours) == (wrong_order or replace_step)


# ---------------------------------------------------------------- GradScaler


def _scaled_run(lib_name):
    model = _model()
    opt = LIBS[lib_name].Adam(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    scales = []
    for i, (x, y) in enumerate(_batches(6)):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        if i == 2:
            loss = loss * float("inf")  # 一次溢出：GradScaler 跳过这一步并减小缩放
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return _params(model), scales, opt.state_dict()["state"][0]["step"]


def test_grad_scaler():
    ours, theirs = _scaled_run("optlab"), _scaled_run("torch")
    _close(ours[0], theirs[0])
    assert ours[1] == theirs[1]
    assert float(ours[2]) == float(theirs[2]) == 5.0  # 溢出的那一步被跳过


# ---------------------------------------------------------------- transformers


def test_transformers_get_scheduler():
    transformers = pytest.importorskip("transformers")
    runs = {}
    for name, lib in LIBS.items():
        model = _model()
        opt = lib.AdamW(model.parameters(), lr=0.01)
        sched = transformers.get_scheduler(
            "cosine", optimizer=opt, num_warmup_steps=2, num_training_steps=6
        )
        lrs = []
        for x, y in _batches(6):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        runs[name] = (lrs, _params(model))
    assert runs["optlab"][0] == pytest.approx(runs["torch"][0], rel=1e-12)
    _close(runs["optlab"][1], runs["torch"][1])


class _TinyRegressor(torch.nn.Module):
    """transformers.Trainer 需要的最小模型：forward 接收批次字段，返回带 loss 的字典。"""

    def __init__(self):
        super().__init__()
        self.net = _model()

    def forward(self, x, labels=None):
        out = self.net(x)
        loss = torch.nn.functional.mse_loss(out, labels) if labels is not None else None
        return {"loss": loss, "logits": out}


def _trainer_args(transformers, folder, **extra):
    return transformers.TrainingArguments(
        output_dir=str(folder),
        max_steps=4,
        per_device_train_batch_size=4,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        data_seed=0,
        **extra,
    )


def _regression_data():
    g = torch.Generator().manual_seed(3)
    xs, ys = torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
    return [{"x": xs[i], "labels": ys[i]} for i in range(16)]


def test_transformers_trainer(tmp_path):
    """Trainer(optimizers=(优化器, 调度器))：两者都由 optlab 提供。"""
    transformers = pytest.importorskip("transformers")
    data = _regression_data()
    finals = {}
    for name, lib in LIBS.items():
        model = _TinyRegressor()
        opt = lib.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
        sched = lib.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=4)
        trainer = transformers.Trainer(
            model=model,
            args=_trainer_args(transformers, tmp_path / name),
            train_dataset=data,
            optimizers=(opt, sched),
        )
        trainer.train()
        assert trainer.optimizer is opt or trainer.optimizer.optimizer is opt
        finals[name] = (_params(model), opt.param_groups[0]["lr"])
    _close(finals["optlab"][0], finals["torch"][0])
    assert finals["optlab"][1] == pytest.approx(finals["torch"][1])


def test_transformers_trainer_builds_the_optimizer(tmp_path):
    """Trainer(optimizer_cls_and_kwargs=(optlab.X, ...))：由 Trainer 构造优化器，再配上它自己的余弦调度器。"""
    transformers = pytest.importorskip("transformers")
    data = _regression_data()
    finals = {}
    for name, lib in LIBS.items():
        model = _TinyRegressor()
        trainer = transformers.Trainer(
            model=model,
            args=_trainer_args(
                transformers, tmp_path / name, lr_scheduler_type="cosine", warmup_steps=1
            ),
            train_dataset=data,
            optimizer_cls_and_kwargs=(lib.RMSprop, {"lr": 0.01, "momentum": 0.5}),
        )
        trainer.train()
        inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
        assert isinstance(inner, lib.RMSprop)
        finals[name] = (_params(model), trainer.lr_scheduler.get_last_lr())
    _close(finals["optlab"][0], finals["torch"][0])
    assert finals["optlab"][1] == pytest.approx(finals["torch"][1])


# ---------------------------------------------------------------- PyTorch Lightning


def _lightning_run(lib_name, tmp_path, plateau: bool):
    pl = pytest.importorskip("pytorch_lightning")
    lib = LIBS[lib_name]
    xs, ys = zip(*_batches(3))
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.cat(xs), torch.cat(ys)), batch_size=8
    )

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _model()

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True, logger=False)
            return loss

        def configure_optimizers(self):
            opt = lib.SGD(self.parameters(), lr=0.1, momentum=0.9)
            if plateau:
                # mode="max"：损失在下降，于是每个迭代周期都算“变差”，第 2 个周期就降学习率
                sched = lib.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
                return {
                    "optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "monitor": "train_loss", "interval": "epoch"},
                }  # fmt: skip
            sched = lib.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    module = Module()
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning 关于 num_workers 等的提示与本测试无关
        trainer.fit(module, train_dataloaders=batches)
    opt = trainer.optimizers[0]
    assert isinstance(opt, lib.SGD)
    return _params(module), opt.param_groups[0]["lr"]


@pytest.mark.parametrize("plateau", [False, True], ids=["StepLR", "ReduceLROnPlateau"])
def test_lightning_configure_optimizers(tmp_path, plateau):
    ours = _lightning_run("optlab", tmp_path / "optlab", plateau)
    theirs = _lightning_run("torch", tmp_path / "torch", plateau)
    _close(ours[0], theirs[0])
    assert ours[1] == pytest.approx(theirs[1])
    assert ours[1] < 0.1  # 调度器确实被 Lightning 调用过
