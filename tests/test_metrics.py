import pytest
import torch

from shared.metrics import accuracy, confusion_matrix, most_confused


def test_accuracy_counts_argmax_hits():
    outputs = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.1, 0.2]])
    assert accuracy(outputs, torch.tensor([0, 1, 1, 0])) == pytest.approx(0.5)


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="outputs \\(N, classes\\)"):
        accuracy(torch.zeros(4), torch.zeros(4))


def test_confusion_matrix_rows_are_true_classes():
    matrix = confusion_matrix(torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 2, 0, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    with pytest.raises(ValueError, match="y_pred has 2"):
        confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 1]), 3)


def test_most_confused_orders_wrong_answers_by_confidence():
    outputs = torch.tensor([[9.0, 0.0], [0.0, 1.0], [0.0, 5.0], [3.0, 0.0]])
    targets = torch.tensor([0, 0, 0, 1])
    assert most_confused(outputs, targets, k=5).tolist() == [2, 3, 1]
    assert most_confused(outputs, targets, k=1).tolist() == [2]
