"""grid_sample and affine_grid against torch: every mode x padding mode x
align_corners on 4-D and 5-D inputs (outputs, input and grid gradients),
float32, gradcheck, affine grids in 2-D and 3-D (with theta's gradient),
a spatial-transformer composition, warnings and errors."""
import itertools
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck
from helpers import check, rand

MODES_2D = list(itertools.product(["bilinear", "nearest", "bicubic"],
                                  ["zeros", "border", "reflection"], [False, True]))
MODES_3D = list(itertools.product(["bilinear", "nearest"],
                                  ["zeros", "border", "reflection"], [False, True]))


def _gs(mode, pad, ac):
    return lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode=mode, padding_mode=pad,
                                                           align_corners=ac)


@pytest.mark.parametrize("mode,pad,ac", MODES_2D)
def test_grid_sample_4d(mode, pad, ac):
    # the grid reaches past [-1, 1] so every padding rule is exercised
    check(_gs(mode, pad, ac), rand(2, 3, 4, 5), rand(2, 3, 4, 2, seed=1, low=-1.4, high=1.4))


@pytest.mark.parametrize("mode,pad,ac", MODES_3D)
def test_grid_sample_5d(mode, pad, ac):
    check(_gs(mode, pad, ac), rand(2, 2, 3, 4, 5),
          rand(2, 2, 3, 2, 3, seed=2, low=-1.4, high=1.4))


def test_grid_sample_float32_and_far_reflection():
    check(_gs("bilinear", "reflection", False), rand(1, 2, 5, 4, dtype=np.float32),
          rand(1, 6, 3, 2, dtype=np.float32, seed=3, low=-4, high=4), atol=1e-5, rtol=1e-4)
    check(_gs("bicubic", "border", True), rand(1, 2, 5, 4, dtype=np.float32),
          rand(1, 6, 3, 2, dtype=np.float32, seed=4, low=-1.2, high=1.2), atol=1e-5, rtol=1e-4)


def test_grid_sample_size_one_axis():
    check(_gs("bilinear", "reflection", True), rand(1, 1, 1, 4), rand(1, 2, 2, 2, seed=5))
    check(_gs("bilinear", "reflection", False), rand(1, 1, 1, 4), rand(1, 2, 2, 2, seed=5))


@pytest.mark.parametrize("mode,pad", [("bilinear", "zeros"), ("bicubic", "reflection"),
                                      ("bilinear", "border")])
def test_grid_sample_gradcheck(mode, pad):
    x = ember.tensor(rand(1, 2, 3, 4), requires_grad=True)
    # points kept off the pixel lattice and the borders, where the derivative jumps
    g = ember.tensor(rand(1, 2, 3, 2, seed=6, low=-0.8, high=0.8) + 0.013, requires_grad=True)
    assert gradcheck(lambda a, b: ember.nn.functional.grid_sample(
        a, b, mode=mode, padding_mode=pad, align_corners=False), (x, g))


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 2, 4)])
@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid(size, ac):
    theta = rand(2, 2, 3, seed=7) if len(size) == 4 else rand(2, 3, 4, seed=7)
    check(lambda lib, t: lib.nn.functional.affine_grid(t, size, align_corners=ac), theta)


def test_affine_grid_unit_size():
    theta = rand(1, 2, 3, seed=8)
    check(lambda lib, t: lib.nn.functional.affine_grid(t, (1, 1, 1, 3), align_corners=False),
          theta)


def test_spatial_transformer_composition():
    """affine_grid + grid_sample as a spatial transformer: gradients reach theta."""
    theta = np.array([[[0.9, -0.2, 0.1], [0.15, 1.1, -0.05]]] * 2)
    check(lambda lib, x, t: lib.nn.functional.grid_sample(
        x, lib.nn.functional.affine_grid(t, (2, 3, 5, 6), align_corners=False),
        align_corners=False), rand(2, 3, 4, 4), theta)


def test_default_align_corners_warns():
    for lib in (ember, torch):
        with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
            lib.nn.functional.grid_sample(lib.zeros(1, 1, 2, 2), lib.zeros(1, 1, 1, 2))
        with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
            lib.nn.functional.affine_grid(lib.zeros(1, 2, 3), (1, 1, 2, 2))


def _same_error(run):
    with pytest.raises(Exception) as te:
        run(torch)
    with pytest.raises(type(te.value)) as ee:
        run(ember)
    assert str(ee.value) == str(te.value).replace("torch.", "ember.")


@pytest.mark.parametrize("xs,gs,kw", [
    ((1, 1, 3, 3), (1, 2, 2, 2), dict(mode="area")),
    ((1, 1, 3, 3), (1, 2, 2, 2), dict(padding_mode="wrap")),
    ((1, 1, 2, 2, 2), (1, 2, 2, 2, 3), dict(mode="bicubic")),
    ((1, 1, 3, 3), (1, 2, 2, 3), {}),
    ((1, 1, 3, 3), (2, 2, 2, 2), {}),
    ((1, 1, 0, 3), (1, 2, 2, 2), {}),
])
def test_grid_sample_errors(xs, gs, kw):
    _same_error(lambda lib: lib.nn.functional.grid_sample(
        lib.zeros(*xs), lib.zeros(*gs), align_corners=False, **kw))


def test_grid_sample_dtype_errors():
    _same_error(lambda lib: lib.nn.functional.grid_sample(
        lib.zeros(1, 1, 3, 3), lib.zeros(1, 2, 2, 2, dtype=lib.float64), align_corners=False))
    _same_error(lambda lib: lib.nn.functional.grid_sample(
        lib.zeros(1, 1, 3, 3, dtype=lib.int64), lib.zeros(1, 2, 2, 2, dtype=lib.int64),
        align_corners=False))


@pytest.mark.parametrize("shape,size", [
    ((1, 2, 3), (1, 1, 2, 2, 2)), ((1, 3, 4), (1, 1, 2, 2)), ((1, 2, 3), (1, 1, 2)),
    ((1, 2, 3), [1, 1, 0, 2]),
])
def test_affine_grid_errors(shape, size):
    _same_error(lambda lib: lib.nn.functional.affine_grid(lib.zeros(*shape), size,
                                                          align_corners=False))
    _same_error(lambda lib: lib.nn.functional.affine_grid(
        lib.zeros(1, 2, 3, dtype=lib.int64), (1, 1, 2, 2), align_corners=False))


def test_spatial_transformer_training_matches_torch():
    """A small spatial transformer network: a localisation net predicts theta,
    the input is resampled, a classifier follows; three SGD steps from the
    same weights give torch's losses."""
    def run(lib, state, x, y):
        class STN(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.loc = lib.nn.Linear(36, 6)
                self.cls = lib.nn.Linear(36, 3)

            def forward(self, img):
                theta = self.loc(img.flatten(1)).view(-1, 2, 3)
                grid = lib.nn.functional.affine_grid(theta, img.size(), align_corners=False)
                warped = lib.nn.functional.grid_sample(img, grid, padding_mode="border",
                                                       align_corners=False)
                return self.cls(warped.flatten(1))

        m = STN().double()
        m.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        out = []
        for _ in range(3):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    torch.manual_seed(0)
    init = torch.nn.ModuleDict({"loc": torch.nn.Linear(36, 6), "cls": torch.nn.Linear(36, 3)})
    with torch.no_grad():       # start the localisation net at the identity transform
        init["loc"].weight.mul_(0.01)
        init["loc"].bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))
    state = {k: v.double().numpy().copy() for k, v in init.state_dict().items()}
    x = rand(4, 1, 6, 6)
    y = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(run(ember, state, x, y), run(torch, state, x, y), rtol=1e-9)
