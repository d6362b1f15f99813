import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from shared import plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_history_gets_one_panel_per_quantity_with_loss_first():
    history = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_acc": [0.5, 0.8], "val_acc": [0.4, 0.7],
               "lr": [0.1, 0.1], "seconds": [1.0, 1.0]}
    fig = plot.plot_history(history)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "acc"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]


def test_history_without_curves_is_rejected():
    with pytest.raises(ValueError, match="no train_\\*/val_\\* keys"):
        plot.plot_history({"lr": [0.1]})


def test_image_grid_titles_mark_wrong_predictions_in_red():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    fig = plot.show_images(images, labels=[0, 1, 2, 0, 1], classes=["cat", "dog", "owl"],
                           predictions=[0, 2, 2, 0, 1], ncols=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert fig.axes[1].get_title() == "dog\npred: owl"
    assert fig.axes[1].title.get_color() == "red"
    assert fig.axes[0].title.get_color() == "black"


def test_image_grid_unnormalises_with_mean_and_std():
    image = torch.full((1, 1, 4, 4), 0.5)
    normalised = (image - 0.1307) / 0.3081
    fig = plot.show_images(normalised, mean=(0.1307,), std=(0.3081,))
    shown = fig.axes[0].images[0].get_array()
    assert abs(float(shown.mean()) - 0.5) < 1e-5


def test_image_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match="\\(N, C, H, W\\)"):
        plot.show_images(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="No images"):
        plot.show_images(torch.zeros(0, 1, 4, 4))


def test_confusion_matrix_shows_counts():
    fig = plot.plot_confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), ["a", "b"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "0", "1", "1"]


def test_most_confused_shows_the_confident_mistakes():
    images = torch.zeros(4, 1, 4, 4)
    outputs = torch.tensor([[5.0, 0.0], [0.0, 5.0], [0.0, 9.0], [1.0, 0.0]])
    fig = plot.plot_most_confused(images, outputs, torch.tensor([0, 1, 0, 1]), ["a", "b"], k=4)
    assert [ax.get_title() for ax in fig.axes] == ["a\npred: b", "b\npred: a"]
    with pytest.raises(ValueError, match="no mistakes"):
        plot.plot_most_confused(images, outputs, outputs.argmax(1), ["a", "b"])


def test_filters_and_feature_maps():
    conv = torch.nn.Conv2d(3, 6, 5)
    assert len(plot.plot_filters(conv.weight, ncols=3).axes) == 6
    maps = torch.randn(1, 10, 7, 7)
    assert len(plot.plot_feature_maps(maps, ncols=5).axes) == 10
    with pytest.raises(ValueError, match="\\(out, in, kH, kW\\)"):
        plot.plot_filters(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="one image"):
        plot.plot_feature_maps(torch.zeros(2, 3, 4, 4))


def test_reconstructions_put_inputs_above_outputs():
    x = torch.rand(10, 1, 8, 8)
    fig = plot.plot_reconstructions(x, x * 0.5, n=4)
    assert len(fig.axes) == 8
    with pytest.raises(ValueError, match="same shape"):
        plot.plot_reconstructions(x, x[:, :, :4])


def test_show_scenes_draws_boxes_labels_and_masks_and_asks_for_labels_with_boxes():
    images = torch.zeros(3, 1, 16, 16)
    images[0, 0, 2:8, 3:9] = 1
    boxes = [torch.tensor([[3.0, 2.0, 9.0, 8.0]]), torch.zeros(0, 4), torch.zeros(0, 4)]
    labels = [torch.tensor([7]), torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)]
    masks = torch.zeros(3, 16, 16, dtype=torch.int64)
    masks[0, 2:8, 3:9] = 8
    fig = plot.show_scenes(images, boxes, labels, masks=masks, scores=[torch.tensor([0.9]), [], []], ncols=2)
    assert len(fig.axes) == 4  # two rows of two, the last one empty
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (64, 64, 3)  # zoomed 4 times
    assert tuple(shown[2 * 4 + 8, 3 * 4 + 8]) != (255, 255, 255)  # the mask coloured the digit's pixels
    with pytest.raises(ValueError, match="needs the labels that go with the boxes"):
        plot.show_scenes(images, boxes)
