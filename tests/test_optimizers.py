"""Hand-written update rules against torch.optim, step by step, and their in-place contract."""

import numpy as np
import pytest

from dlcourse.functional.optimizers import SGD, Adam, RMSProp, sgd_update

torch = pytest.importorskip("torch", reason="the update rules are checked against torch.optim")

STEPS = 10
SHAPE = (4, 3)

# (our rule, the matching torch.optim rule), same hyper-parameters in each convention
CASES = {
    "sgd": (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd-momentum": (
        lambda: SGD(0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd-nesterov": (
        lambda: SGD(0.05, momentum=0.8, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
    "sgd-weight-decay": (
        lambda: SGD(0.1, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05),
    ),
    "sgd-momentum-weight-decay": (
        lambda: SGD(0.05, momentum=0.9, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
    ),
    "sgd-nesterov-weight-decay": (
        lambda: SGD(0.05, momentum=0.7, nesterov=True, weight_decay=0.02),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.02),
    ),
    "rmsprop": (
        lambda: RMSProp(0.01, rho=0.9, eps=1e-8),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8),
    ),
    "rmsprop-large-eps": (  # a large eps shows whether it sits inside or outside the sqrt
        lambda: RMSProp(0.01, rho=0.95, eps=0.1),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=0.1),
    ),
    "adam": (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam-custom": (
        lambda: Adam(0.02, beta1=0.8, beta2=0.99, eps=1e-3),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-3),
    ),
}


def _gradients(seed=0):
    """A fixed sequence of gradients, the same for both optimizers."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(SHAPE) for _ in range(STEPS)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_matches_torch_optim_step_by_step(case):
    make_ours, make_torch = CASES[case]
    start = np.random.default_rng(1).standard_normal(SHAPE)
    param = start.copy()
    opt = make_ours()
    state = opt.init_state(param)

    ref = torch.tensor(start, requires_grad=True)
    ref_opt = make_torch([ref])
    for step, grad in enumerate(_gradients()):
        opt.update(param, grad, state)
        ref.grad = torch.tensor(grad)
        ref_opt.step()
        np.testing.assert_allclose(
            param, ref.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}"
        )
    assert not np.allclose(param, start)  # the steps really moved the parameter


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_tensors_as_params_follow_the_same_path(case):
    make_ours, _ = CASES[case]
    start = np.random.default_rng(2).standard_normal(SHAPE)
    np_param, np_opt = start.copy(), make_ours()
    np_state = np_opt.init_state(np_param)
    # a leaf tensor that requires grad: the update must switch autograd off to write into it
    t_param, t_opt = torch.tensor(start, requires_grad=True), make_ours()
    t_state = t_opt.init_state(t_param)
    for grad in _gradients(seed=3):
        np_opt.update(np_param, grad, np_state)
        t_opt.update(t_param, torch.tensor(grad), t_state)
    assert t_param.requires_grad and t_param.dtype == torch.float64
    np.testing.assert_allclose(t_param.detach().numpy(), np_param, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make", [lambda: SGD(0.1, momentum=0.9), lambda: RMSProp(0.1), lambda: Adam(0.1)]
)
def test_update_is_in_place_for_params_and_state(make):
    opt = make()
    param = np.ones(SHAPE)
    state = opt.init_state(param)
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    assert arrays  # each of these rules keeps at least one array of state
    param_before = param
    assert opt.update(param, np.full(SHAPE, 0.5), state) is None
    assert param is param_before
    assert not np.allclose(param, 1.0)
    for key, array in arrays.items():
        assert state[key] is array, key
        assert np.any(array != 0), key  # and it was written into


def test_adam_keeps_an_explicit_step_count_and_bias_corrects_the_first_step():
    opt = Adam(0.01)
    param = np.zeros(3)
    state = opt.init_state(param)
    assert state["t"] == 0
    opt.update(param, np.array([1e-3, -5.0, 200.0]), state)
    assert state["t"] == 1
    # m_hat = g and v_hat = g**2 after one step, so the first step is lr * sign(g)
    np.testing.assert_allclose(param, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_sgd_without_momentum_has_empty_state_and_velocity_with_it():
    assert SGD(0.1).init_state(np.zeros(2)) == {}
    state = SGD(0.1, momentum=0.5).init_state(np.zeros(2, dtype=np.float32))
    assert set(state) == {"velocity"} and state["velocity"].dtype == np.float32


@pytest.mark.parametrize("container", ["list", "dict"])
def test_step_keeps_one_state_per_param_for_lists_and_dicts(container):
    shapes = {"w": (2, 3), "b": (3,)}
    grads = {"w": np.full((2, 3), 1.0), "b": np.full(3, -2.0)}
    params = {name: np.zeros(shape) for name, shape in shapes.items()}
    # the reference: one update() per parameter with its own hand-made state
    one_by_one = {name: np.zeros(shape) for name, shape in shapes.items()}
    reference = Adam(0.1)
    states = {name: reference.init_state(p) for name, p in one_by_one.items()}

    opt = Adam(0.1)
    if container == "list":
        step_params, step_grads, keys = [params["w"], params["b"]], [grads["w"], grads["b"]], [0, 1]
    else:
        step_params, step_grads, keys = params, grads, ["w", "b"]
    for _ in range(3):
        opt.step(step_params, step_grads)
        for name in shapes:
            reference.update(one_by_one[name], grads[name], states[name])

    assert list(opt.states) == keys
    for key, name in zip(keys, ["w", "b"], strict=True):
        assert opt.states[key]["t"] == 3
        np.testing.assert_allclose(params[name], one_by_one[name], rtol=1e-15)
        assert np.all(params[name] != 0)


def test_step_rejects_mismatched_structures():
    opt = SGD(0.1)
    with pytest.raises(ValueError, match=r"^grads: expected a list of 2 gradients"):
        opt.step([np.zeros(2), np.zeros(2)], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"^grads: expected a dict with keys \['b', 'w'\]"):
        opt.step({"w": np.zeros(2), "b": np.zeros(2)}, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match=r"^params\[1\]: grad: expected the same shape as param"):
        opt.step([np.zeros(2), np.zeros((2, 2))], [np.zeros(2), np.zeros(2)])


@pytest.mark.parametrize(
    "make", [lambda: SGD(0.1, momentum=0.9), lambda: RMSProp(0.1), lambda: Adam(0.1)]
)
def test_grad_of_another_shape_is_rejected_naming_both_shapes(make):
    opt = make()
    param = np.zeros((3, 2))
    state = opt.init_state(param)
    with pytest.raises(
        ValueError, match=r"^grad: expected the same shape as param \(3, 2\), got \(2, 3\)"
    ):
        opt.update(param, np.zeros((2, 3)), state)
    np.testing.assert_array_equal(param, 0.0)  # nothing was written before the check


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: SGD(0.0), "lr"),
        (lambda: Adam(-1e-3), "lr"),
        (lambda: RMSProp(float("nan")), "lr"),
        (lambda: SGD(0.1, momentum=1.0), "momentum"),
        (lambda: SGD(0.1, nesterov=True), "nesterov"),
        (lambda: SGD(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: RMSProp(0.1, rho=1.5), "rho"),
        (lambda: Adam(0.1, beta1=1.0), "beta1"),
        (lambda: Adam(0.1, beta2=-0.1), "beta2"),
        (lambda: Adam(0.1, eps=-1.0), "eps"),
    ],
)
def test_bad_hyper_parameters_are_rejected_by_name(make, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        make()


def test_integer_params_are_rejected():
    opt = SGD(0.1)
    with pytest.raises(ValueError, match="^param: expected floating-point values"):
        opt.update(np.zeros(3, dtype=np.int64), np.zeros(3), opt.init_state(np.zeros(3)))


def test_sgd_update_is_pure():
    param, grad = np.ones(3), np.array([1.0, 2.0, 3.0])
    new = sgd_update(param, grad, 0.5)
    np.testing.assert_array_equal(new, [0.5, 0.0, -0.5])
    np.testing.assert_array_equal(param, 1.0)
    assert new is not param
    with pytest.raises(ValueError, match=r"^grad: expected the same shape as param"):
        sgd_update(param, np.ones(2), 0.5)


def test_float32_params_stay_float32():
    for opt in (SGD(0.1, momentum=0.9), RMSProp(0.1), Adam(0.1)):
        param = np.ones(SHAPE, dtype=np.float32)
        state = opt.init_state(param)
        opt.update(param, np.ones(SHAPE, dtype=np.float32), state)
        assert param.dtype == np.float32
        t_param = torch.ones(SHAPE)
        t_state = opt.init_state(t_param)
        opt.update(t_param, torch.ones(SHAPE), t_state)
        assert t_param.dtype == torch.float32
        np.testing.assert_allclose(t_param.numpy(), param, rtol=1e-6)


@pytest.mark.cuda
@pytest.mark.parametrize("case", ["sgd-nesterov-weight-decay", "rmsprop", "adam"])
def test_cuda_params_update_on_the_gpu(case):
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU (torch.cuda.is_available() is False)")
    make_ours, _ = CASES[case]
    start = np.random.default_rng(4).standard_normal(SHAPE)
    cpu, cpu_opt = torch.tensor(start), make_ours()
    gpu, gpu_opt = torch.tensor(start, device="cuda"), make_ours()
    cpu_state, gpu_state = cpu_opt.init_state(cpu), gpu_opt.init_state(gpu)
    for grad in _gradients(seed=5):
        cpu_opt.update(cpu, torch.tensor(grad), cpu_state)
        gpu_opt.update(gpu, torch.tensor(grad, device="cuda"), gpu_state)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-14)
