# Two commands: `make lab` opens the course, `make test` runs the whole test suite.
# Both create .venv and install the course into it the first time (and again when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Tests run in tiny mode, on the small files that come with the course in tiny_data/: a clone needs
# nothing beside it. (DIC_DATA_DIR, if you set it, is where full datasets live; `make data` fills it.)
# JupyterLab refuses to run as root unless told it may (containers, CI).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test quick lint install clean-venv data site site-check

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
	DIC_TINY=$${DIC_TINY:-1} MPLBACKEND=Agg OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --dist loadscope $(PYTEST_ARGS)

# The contributors' loop: unit tests and one notebook per week and per contest, without the grading proofs
# (see README). CI also runs it in a fresh clone with nothing beside it.
QUICK_NOTEBOOKS := week1_regression/00_getting_started.ipynb week2_mlp_pytorch/01_tensors_and_autograd.ipynb \
	week3_cnn_lenet/02_conv_and_pooling_layers.ipynb week4_papers/09_architectures_side_by_side.ipynb \
	week5_autoencoders/01_autoencoder.ipynb week6_beyond_classification/01_boxes_iou_and_nms.ipynb \
	hackathons/tabular_contest/01_look_at_the_data.ipynb \
	hackathons/bird_contest/01_the_data.ipynb
quick: lint
	DIC_TINY=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n 2 --dist loadscope -m "not slow" tests $(QUICK_NOTEBOOKS) $(PYTEST_ARGS)

# The full datasets, for full mode: MNIST, Fashion-MNIST and CIFAR-10 through torchvision (with progress
# bars), into DIC_DATA_DIR or the per-user cache. The bird photos and the Otto table are on Kaggle.
data: $(INSTALLED)
	$(BIN)/python -m shared.download mnist fashion_mnist cifar10
	@$(BIN)/python -m shared.download birds tabular --if-kaggle

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

# The course as a static website in book/_build/html: every lesson run in tiny mode (only the changed ones
# on a rebuild; `make test` leaves the runs of its own in the same cache), rendered with Sphinx.
# SITE_ARGS="--only week3" builds one part.
site: $(INSTALLED)
	$(BIN)/python book/build.py $(SITE_ARGS)

# Look at the built site: headless Chromium screenshots and search, then the leak and link tests on it.
site-check: $(INSTALLED)
	$(BIN)/python book/screenshot.py
	DIC_BOOK_HTML=book/_build/html $(BIN)/python -m pytest -p no:xdist tests/test_book.py
