import sys

import numpy as np
import pytest
import torch
from torch import nn

from shared import checks


def test_shape_message_names_both_shapes():
    checks.check_shape(np.zeros((64, 10)), (64, 10))
    with pytest.raises(AssertionError, match=r"scores: expected shape \(64, 10\), got \(64, 1\)"):
        checks.check_shape(torch.zeros(64, 1), (64, 10), "scores")
    with pytest.raises(AssertionError, match="forget to `return`"):
        checks.check_shape(None, (1,), "scores")


def test_close_points_at_the_worst_entry():
    checks.check_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(AssertionError, match=r"at w\[2\] you have 3.3, expected 3 \(difference 0.3\)"):
        checks.check_close([1.0, 2.0, 3.3], [1.0, 2.0, 3.0], "w")
    with pytest.raises(AssertionError, match="NaN"):
        checks.check_close([np.nan], [1.0], "loss")
    with pytest.raises(AssertionError, match="expected shape"):
        checks.check_close(np.zeros(3), np.zeros(4))
    checks.check_close(torch.tensor(2.0, requires_grad=True), 2.0)


def test_numerical_gradient_of_a_quadratic():
    x = np.array([1.0, -2.0, 3.0])
    assert np.allclose(checks.numerical_gradient(lambda v: (v ** 2).sum(), x), 2 * x, atol=1e-6)


def test_gradient_check_reports_where_it_differs():
    def f(w):
        return float((w ** 2).sum())

    w = np.array([1.0, 2.0, 3.0])
    checks.check_gradient(f, 2 * w, w)
    wrong = 2 * w
    wrong[2] += 0.3
    with pytest.raises(AssertionError, match=r"differs from the numerical gradient by 0.3 at w\[2\]"):
        checks.check_gradient(f, wrong, w)
    with pytest.raises(AssertionError, match="one entry per parameter"):
        checks.check_gradient(f, 2 * w[:2], w)


def test_model_checks():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    checks.check_model_output(model, (5, 2, 2), (5, 3))
    checks.check_parameter_count(model, 15)
    with pytest.raises(AssertionError, match="output: expected shape"):
        checks.check_model_output(model, (5, 2, 2), (5, 10))
    with pytest.raises(AssertionError, match="failed on an input of shape"):
        checks.check_model_output(model, (5, 3, 3), (5, 3))
    with pytest.raises(AssertionError, match="has 15 trainable parameters, expected 16"):
        checks.check_parameter_count(model, 16)


def test_type_check():
    checks.check_type(3, int)
    with pytest.raises(AssertionError, match="should be a float or int, got str"):
        checks.check_type("3", (float, int), "lr")


def test_without_lets_hand_written_code_through_and_stops_the_library():
    import torch

    from shared.checks import without, without_autograd

    def by_hand(x):
        return x * x

    def by_library(x):
        return torch.nn.functional.relu(x)

    assert without(["torch.nn.functional.relu"], by_hand, 3) == 9
    with pytest.raises(AssertionError, match=r"by hand: your code called torch.nn.functional.relu"):
        without(["torch.nn.functional.relu", "no.such.module.function"], by_library, torch.ones(2))
    assert torch.nn.functional.relu(torch.tensor([-1.0])).item() == 0.0  # put back afterwards

    def gradient_by_autograd(w):
        w = torch.tensor(w, requires_grad=True)
        (w ** 2).sum().backward()
        return w.grad

    def gradient_by_torch_func(w):
        return torch.func.grad(lambda v: (v ** 2).sum())(torch.tensor(w))

    for cheat in (gradient_by_autograd, gradient_by_torch_func):
        with pytest.raises(AssertionError, match="without autograd"):
            without_autograd(cheat, [1.0, 2.0])
    assert without_autograd(lambda w: [2 * v for v in w], [1.0, 2.0]) == [2.0, 4.0]
    assert gradient_by_autograd([1.0]).tolist() == [2.0]


def test_switched_off_catches_the_library_however_it_is_reached_and_puts_it_back():
    import torch
    from torch.nn import functional as F

    from shared.checks import switched_off, torch_optim_targets

    conv = F.conv2d  # an alias taken before the block: only the function mode can see it
    x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)
    for cheat in (lambda: conv(x, w), lambda: torch.conv2d(x, w), lambda: torch.nn.Conv2d(1, 1, 2)(x)):
        with pytest.raises(AssertionError, match="no convolutions here.*conv2d"):
            with switched_off(["torch.nn.functional.conv2d", "scipy.signal.correlate2d"], {"conv2d"},
                              message="no convolutions here"):
                cheat()
    with switched_off(["torch.nn.functional.conv2d"], {"conv2d"}):
        assert (x[0, 0, :2, :2] * w[0, 0]).sum().item() == 4.0  # hand-written arithmetic passes
    assert conv(x, w).sum().item() == 16.0  # and the library works again afterwards

    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    for make_and_step in (lambda: torch.optim.SGD([p], lr=0.1), lambda: torch.optim.Adam([p]).step()):
        with pytest.raises(AssertionError, match="torch.optim"):
            with switched_off(torch_optim_targets(), message="update by hand: torch.optim is switched off"):
                make_and_step()
    torch.optim.SGD([p], lr=0.5).step()
    assert p.detach().tolist() == [0.5, 0.5]


def test_switched_off_catches_an_alias_in_the_notebooks_namespace_and_the_librarys_second_name(monkeypatch):
    import types

    import torch
    import torchvision

    from shared.checks import switched_off

    # A kernel runs the notebook's cells in the namespace of sys.modules["__main__"].
    notebook = types.ModuleType("__main__")
    exec("from torchvision.ops import box_iou\n"
         "def my_iou(a, b):\n"
         "    return box_iou(a, b)\n", notebook.__dict__)
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    for cheat in (lambda: notebook.my_iou(box, box), lambda: torchvision.ops.boxes.box_iou(box, box)):
        with pytest.raises(AssertionError, match="your code called torchvision.ops.box_iou"):
            with switched_off(["torchvision.ops.box_iou"]):
                cheat()
    assert notebook.my_iou(box, box).item() == 1.0  # every name is put back
    assert torchvision.ops.boxes.box_iou is torchvision.ops.box_iou


def test_update_rule_path_matches_torch_and_refuses_torch_optim():
    from shared.checks import (
        curved_gradient,
        optimizer_switched_off,
        torch_optimizer_path,
        update_rule_on_two_parameters,
        update_rule_path,
    )

    def sgd(p, g, state, lr):
        return p - lr * g

    start = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    ours = update_rule_path(sgd, start, 4, curved_gradient, lr=0.1)
    assert ours.shape == (4, 3)
    checks.check_close(ours, torch_optimizer_path(torch.optim.SGD, start, 4, curved_gradient, lr=0.1))
    assert start.tolist() == [2.0, -1.0, 0.5]  # neither path moves the start
    first, second = update_rule_on_two_parameters(sgd, start, -start, 3, curved_gradient, lr=0.1)
    checks.check_close(first, ours[2])
    checks.check_close(second, torch_optimizer_path(torch.optim.SGD, -start, 3, curved_gradient, lr=0.1)[-1])

    def by_library(p, g, state, lr):
        w = torch.nn.Parameter(p.clone())
        w.grad = g
        torch.optim.SGD([w], lr=lr).step()
        return w.detach()

    refused = "Write the update by hand: torch.optim is switched off inside this check"
    with pytest.raises(AssertionError, match=refused):
        update_rule_path(by_library, start, 2, curved_gradient, lr=0.1)
    with pytest.raises(AssertionError, match=refused):
        update_rule_on_two_parameters(by_library, start, -start, 2, curved_gradient, lr=0.1)
    with pytest.raises(AssertionError, match="return the new parameter as a tensor, got list"):
        update_rule_path(lambda p, g, state, lr: (p - lr * g).tolist(), start, 2, curved_gradient, lr=0.1)

    def fused(p, g, state, lr):
        torch._fused_adagrad_([p], [g], [torch.zeros_like(p)], [torch.zeros(())], lr=lr, lr_decay=0.0,
                              weight_decay=0.0, eps=1e-10, maximize=False)
        return p

    with pytest.raises(AssertionError, match="_fused_adagrad_"):
        update_rule_path(fused, start, 1, curved_gradient, torch_functions=["_fused_adagrad_"], lr=0.1)
    with pytest.raises(AssertionError, match="switched off.*torch.nn.functional.relu"):
        with optimizer_switched_off(["torch.nn.functional.relu"]):
            torch.nn.functional.relu(start)
    checks.check_close(by_library(start, start, {}, 1.0), torch.zeros(3))  # torch.optim works again afterwards


def test_module_switched_off_refuses_the_names_and_notices_any_other_call_into_the_module():
    import json

    from shared.checks import module_switched_off

    with pytest.raises(AssertionError, match="by hand"), module_switched_off(json, ["dumps"], "by hand"):
        json.dumps([1])
    with pytest.raises(AssertionError, match=r"by hand \(your code called json\.loads\)"):
        with module_switched_off(json, ["dumps"], "by hand"):
            json.loads("[1]")  # not switched off by name, but it runs code from json's own file
    with module_switched_off(json, ["dumps"], "by hand"):
        sorted([2, 1])  # nothing from json: nothing to say
    assert json.dumps([1]) == "[1]"  # and everything is back afterwards


def test_module_switched_off_watches_several_modules_at_once():
    import csv
    import json

    from shared.checks import module_switched_off

    with pytest.raises(AssertionError, match=r"by hand \(your code called csv\.writer\)"):
        with module_switched_off([json, csv], ["writer"], "by hand"):
            csv.writer([])
    with pytest.raises(AssertionError, match=r"by hand \(your code called json\.loads\)"):
        with module_switched_off([json, csv], ["writer"], "by hand"):
            json.loads("[1]")
    with pytest.raises(AssertionError, match=r"by hand \(your code called csv\.__init__\)"):
        with module_switched_off([json, csv], ["writer"], "by hand"):
            csv.Sniffer()  # a class from csv's own file: its methods run from there
    assert json.loads("[1]") == [1] and csv.writer  # and everything is back afterwards
