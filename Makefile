# Two commands: `make lab` opens the course, `make test` runs the whole test suite.
# Both create .venv and install the course into it the first time (and again when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Tests run in tiny mode on the data pack beside the repository, unless you say otherwise.
TEST_DATA_DIR ?= $(abspath ../shared/data)
# JupyterLab refuses to run as root unless told it may (containers, CI).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test quick lint install clean-venv

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

lab: $(INSTALLED)
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" week1_regression/00_getting_started.ipynb

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: lint
	@# One thread per process: pytest-xdist and the grading tests already run processes side by side, and
	@# oversubscribed torch threads spin on the two cores instead of working.
	DIC_TINY=$${DIC_TINY:-1} DIC_DATA_DIR=$${DIC_DATA_DIR:-$(TEST_DATA_DIR)} MPLBACKEND=Agg OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --dist loadscope $(PYTEST_ARGS)

# The contributors' loop: unit tests and one notebook per week, without the grading proofs (see README).
QUICK_NOTEBOOKS := week1_regression/00_getting_started.ipynb week2_mlp_pytorch/01_tensors_and_autograd.ipynb \
	week3_cnn_lenet/02_conv_and_pooling_layers.ipynb
quick: lint
	DIC_TINY=1 DIC_DATA_DIR=$${DIC_DATA_DIR:-$(TEST_DATA_DIR)} MPLBACKEND=Agg OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --dist loadscope -m "not slow" tests $(QUICK_NOTEBOOKS) $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

# Mentors (see MENTORS.md). WEEK=week1_regression, FROM=folder of submissions, NB=path of a notebook.
.PHONY: student autograde grades check
student: $(INSTALLED)
	$(BIN)/python -m mentor_tools.grading release $(WEEK)

autograde: $(INSTALLED)
	$(BIN)/python -m mentor_tools.grading autograde $(WEEK) $(if $(FROM),--from $(FROM),)

grades: $(INSTALLED)
	$(BIN)/python -m mentor_tools.grading export $(WEEK)

# Mentees: run a notebook's visible checks and print the score per exercise.
check: $(INSTALLED)
	$(BIN)/python -m mentor_tools.grading check $(NB)
