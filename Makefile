# optlab：构建教材、运行测试、启动 JupyterLab
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# 依赖变了才重新安装：印记文件放在 .venv 里，删掉 .venv 就会整体重装
STAMP := $(VENV)/.optlab-installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NB_TIMEOUT ?= 1800
PYTEST_ARGS ?=

.PHONY: help setup book test lab notebooks lint chromium clean

help:
	@echo "make book       安装依赖并构建网页版教材（_build/html/index.html）"
	@echo "make test       构建教材后运行全部测试（tests/ 与 notebooks/ 的 nbval）"
	@echo "make lab        在 notebooks/ 上启动 JupyterLab"
	@echo "make notebooks  重新执行所有笔记本并保存输出"
	@echo "make lint       ruff 检查"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -e .
	touch $@

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "教材已生成：$(CURDIR)/_build/html/index.html"

# 浏览器测试需要 Chromium：Linux 上以 root 运行时用 apt 安装，否则跳过（测试会说明原因）
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		:; \
	elif [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "安装 chromium……"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "chromium 安装失败，浏览器测试将被跳过"; \
	else \
		echo "未找到 chromium，且无法自动安装：浏览器测试将被跳过"; \
	fi

# 单线程：2 核机器上 -n 2 的两个进程各用一个线程最快，浮点结果也不随核数变化
test: book chromium
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile tests notebooks \
		--nbval --nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

notebooks: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=$(NB_TIMEOUT) \
		--ExecutePreprocessor.kernel_name=python3 \
		--ExecutePreprocessor.store_widget_state=False \
		--ExecutePreprocessor.record_timing=False \
		$(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf _build book/_static/mathjax book/_static/fonts
