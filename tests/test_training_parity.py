"""Specification of Part II (training): the loss, the classifier's gradients, the optimizers and a
whole training run in rnnbook equal what Keras 3 computes, and bad arguments are refused clearly.

Complements tests/test_rnn.py, which covers the recurrent layer's forward and backward passes.

Tolerances are about 10x the measured float32 noise (measured on this suite's data):
the optimizers on identical gradients are bitwise equal to Keras (0.0 measured; atol 1e-7
leaves room for one rounding difference on another CPU); classifier gradients differ from
GradientTape by at most 5e-8 (atol 5e-7) and the loss by 6e-8 (1e-6); whole training runs
differ by at most 9e-8 in batch and epoch losses and final weights (atol 1e-6). The paper's
constant-epsilon Adam moves the same run by 1.5e-5 to 8e-5, and a test checks that the
training-parity check detects it.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import rnnbook
from rnnbook import (SGD, Adam, bce_grad, bce_loss, classifier_loss_and_grads, clip_by_norm,
                     from_keras, global_norm, sigmoid, to_keras, train_classifier)

SHAPES = {"W_x": (8, 3), "W_h": (8, 8), "b_h": (8,), "W_y": (1, 8), "b_y": (1,)}

OPTIMIZER_ATOL = 1e-7      # identical gradients: measured 0.0 (bitwise equal)
GRAD_ATOL = 5e-7           # rnnbook vs GradientTape gradients: measured <= 5.2e-8
LOSS_ATOL = 1e-6           # one loss value, float32: measured <= 6e-8
TRAINING_ATOL = 1e-6       # batch/epoch losses and weights after a run: measured <= 9e-8


def seed_model(time=10, inputs=1, units=32):
    """The seed's architecture: SimpleRNN(units) then Dense(1, sigmoid)."""
    return keras.Sequential([keras.Input((time, inputs)), keras.layers.SimpleRNN(units),
                             keras.layers.Dense(1, activation="sigmoid")])


def model_params(model):
    return {**from_keras(model.layers[0]), **from_keras(model.layers[1])}


def sum_sign_task(rng, n, time=10, inputs=1):
    """Sequences whose label says whether their sum is positive (float32)."""
    x = rng.normal(size=(n, time, inputs)).astype("float32")
    return x, (x.sum(axis=(1, 2)) > 0).astype("float32")[:, None]


def random_params(rng, time_inputs=1, units=32, dtype="float32"):
    return {
        "W_x": rng.uniform(-0.5, 0.5, size=(units, time_inputs)).astype(dtype),
        "W_h": (0.9 * np.linalg.qr(rng.normal(size=(units, units)))[0]).astype(dtype),
        "b_h": rng.normal(scale=0.2, size=units).astype(dtype),
        "W_y": rng.uniform(-0.5, 0.5, size=(1, units)).astype(dtype),
        "b_y": np.array([0.1], dtype=dtype),
    }


# ------------------------------------------------------------------------------- optimizers

def _run_optimizers(ours, theirs, rng, steps):
    """Apply the same float32 gradients to rnnbook's and Keras's optimizer; return both weights."""
    start = {k: rng.normal(size=s).astype("float32") for k, s in SHAPES.items()}
    params = {k: v.copy() for k, v in start.items()}
    variables = {k: keras.Variable(v) for k, v in start.items()}
    for _ in range(steps):
        scale = 10.0 ** rng.uniform(-3, 1)
        grads = {k: (scale * rng.normal(size=s)).astype("float32") for k, s in SHAPES.items()}
        ours.step(params, grads)
        theirs.apply_gradients([(grads[k], variables[k]) for k in SHAPES])
    return params, {k: v.numpy() for k, v in variables.items()}


@pytest.mark.parametrize("kwargs", [{}, {"learning_rate": 0.1}, {"momentum": 0.9},
                                    {"learning_rate": 0.03, "momentum": 0.5}])
def test_sgd_matches_keras_over_many_steps(kwargs, rng):
    ours, theirs = _run_optimizers(SGD(**kwargs), keras.optimizers.SGD(**kwargs), rng, steps=60)
    for key in SHAPES:
        assert ours[key].dtype == np.float32
        np.testing.assert_allclose(ours[key], theirs[key], atol=OPTIMIZER_ATOL, rtol=0)


@pytest.mark.parametrize("kwargs", [{}, {"learning_rate": 3e-4}, {"learning_rate": 1e-2},
                                    {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4}])
def test_adam_matches_keras_over_many_steps(kwargs, rng):
    ours, theirs = _run_optimizers(Adam(**kwargs), keras.optimizers.Adam(**kwargs), rng, steps=60)
    for key in SHAPES:
        # 1 - beta is formed in float64 and then cast, as Keras does; that keeps the large
        # learning rate within atol too (with (1 - beta) in float32 it drifted to ~2e-6)
        np.testing.assert_allclose(ours[key], theirs[key], atol=OPTIMIZER_ATOL, rtol=0)


def test_adam_counts_steps_and_keeps_moments_per_parameter(rng):
    params = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    opt = Adam()
    for _ in range(3):
        opt.step(params, {"a": np.ones(3), "b": -np.ones((2, 2))})
    assert opt.iterations == 3
    assert set(opt.m) == set(opt.v) == {"a", "b"}
    # with a constant gradient every Adam step has size ~lr: three steps move ~3 lr
    np.testing.assert_allclose(params["a"], -3e-3, rtol=1e-3)
    np.testing.assert_allclose(params["b"], 3e-3, rtol=1e-3)


def test_adam_first_step_is_learning_rate_times_sign():
    """t = 1: step = lr * g / (|g| + eps / sqrt(1 - beta_2)), Keras's epsilon placement."""
    g = np.array([1e3, 1.0, -1e-3, 1e-6])
    params = {"w": np.zeros(4)}
    Adam(learning_rate=1e-3).step(params, {"w": g})
    np.testing.assert_allclose(params["w"], -1e-3 * g / (np.abs(g) + 1e-7 / np.sqrt(1e-3)), rtol=1e-12)


# ------------------------------------------------------------------------------- clipping

def test_clip_by_norm_matches_keras_global_clipnorm(rng):
    """Keras's global_clipnorm, observed through one SGD(learning_rate=1) step: w -> w - clipped g."""
    grads = {k: rng.normal(size=s).astype("float32") for k, s in SHAPES.items()}
    for max_norm in (0.5, 2.0, 100.0):
        variables = {k: keras.Variable(np.zeros(s, dtype="float32")) for k, s in SHAPES.items()}
        keras.optimizers.SGD(learning_rate=1.0, global_clipnorm=max_norm).apply_gradients(
            [(grads[k], variables[k]) for k in SHAPES])
        clipped = clip_by_norm(grads, max_norm)
        for key in SHAPES:
            np.testing.assert_allclose(clipped[key], -variables[key].numpy(), rtol=1e-6, atol=1e-7)


def test_clip_by_norm_formula_and_input_left_alone(rng):
    grads = {k: rng.normal(size=s) for k, s in SHAPES.items()}
    before = {k: v.copy() for k, v in grads.items()}
    norm = global_norm(grads)
    assert norm == pytest.approx(np.sqrt(sum(np.sum(g**2) for g in grads.values())))
    clipped = clip_by_norm(grads, norm / 4)
    assert global_norm(clipped) == pytest.approx(norm / 4)
    for key in grads:
        np.testing.assert_allclose(clipped[key], grads[key] / 4)          # direction kept
        np.testing.assert_array_equal(grads[key], before[key])            # not modified
    unclipped = clip_by_norm(grads, 2 * norm)
    for key in grads:
        np.testing.assert_array_equal(unclipped[key], grads[key])


# ------------------------------------------------------------------------------- loss

SATURATED_LOGITS = np.array([-40.0, -17.0, -16.0, -5.0, -0.5, 0.0, 0.5, 5.0, 16.0, 17.0, 40.0])


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_bce_from_logits_matches_keras_on_a_sigmoid_output(label):
    z = SATURATED_LOGITS.astype("float32")[:, None]
    y = np.full_like(z, label)
    sigmoid_output = keras.layers.Activation("sigmoid")(z)        # carries its logits
    per_example = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y, sigmoid_output))
    ours = [bce_loss(y[i:i + 1], z[i:i + 1], from_logits=True) for i in range(len(z))]
    np.testing.assert_allclose(ours, per_example, rtol=1e-6, atol=1e-6)
    mean = float(keras.losses.BinaryCrossentropy()(y, sigmoid_output))
    assert bce_loss(y, z, from_logits=True) == pytest.approx(mean, rel=1e-6)
    # exact, unclipped: a confidently wrong logit of 40 costs 40
    assert max(ours) == pytest.approx(40.0, rel=1e-6)


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_bce_from_probabilities_matches_keras_clipping(label):
    z = SATURATED_LOGITS.astype("float32")[:, None]
    y = np.full_like(z, label)
    p = sigmoid(z)
    per_example = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y, p))
    ours = [bce_loss(y[i:i + 1], p[i:i + 1]) for i in range(len(z))]
    np.testing.assert_allclose(ours, per_example, rtol=1e-6, atol=1e-6)
    assert max(ours) < 16.2                                        # capped near -log(1e-7)


def test_bce_paths_agree_away_from_saturation_and_differ_when_saturated():
    z = np.array([[-30.0], [-3.0], [0.2], [4.0]])
    y = np.array([[1.0], [0.0], [1.0], [1.0]])
    assert bce_loss(y[1:], z[1:], from_logits=True) == pytest.approx(bce_loss(y[1:], sigmoid(z[1:])), rel=1e-9)
    assert bce_loss(y[:1], z[:1], from_logits=True) == pytest.approx(30.0, rel=1e-12)
    assert bce_loss(y[:1], sigmoid(z[:1])) == pytest.approx(-np.log(1e-7), rel=1e-9)


def test_bce_averages_last_axis_then_batch_like_keras(rng):
    y = rng.integers(0, 2, size=(4, 6, 3)).astype("float32")
    z = rng.normal(scale=3, size=(4, 6, 3)).astype("float32")
    expected = float(keras.losses.BinaryCrossentropy(from_logits=True)(y, z))
    assert bce_loss(y, z, from_logits=True) == pytest.approx(expected, rel=1e-6)


def test_bce_grad_matches_gradient_tape_including_saturation():
    z = tf.constant(SATURATED_LOGITS.astype("float32")[:, None])
    y = np.tile([[1.0], [0.0]], (6, 1))[:len(SATURATED_LOGITS)].astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = keras.losses.BinaryCrossentropy()(y, keras.layers.Activation("sigmoid")(z))
    np.testing.assert_allclose(bce_grad(y, z.numpy()), tape.gradient(loss, z).numpy(), rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------------------- classifier gradients

@pytest.mark.parametrize("batch, time, inputs, units", [(16, 10, 1, 32), (3, 7, 4, 5), (1, 1, 2, 3),
                                                        (8, 25, 2, 16)])
def test_classifier_gradients_match_gradient_tape(batch, time, inputs, units, rng, keras_seed):
    params = random_params(rng, inputs, units)
    x, y = sum_sign_task(rng, batch, time, inputs)
    model = seed_model(time, inputs, units)
    to_keras(model.layers[0], {k: params[k] for k in ("W_x", "W_h", "b_h")})
    to_keras(model.layers[1], {k: params[k] for k in ("W_y", "b_y")})
    with tf.GradientTape() as tape:
        keras_loss = keras.losses.BinaryCrossentropy()(y, model(x))
    rnn, dense = model.layers
    g = tape.gradient(keras_loss, [rnn.cell.kernel, rnn.cell.recurrent_kernel, rnn.cell.bias,
                                   dense.kernel, dense.bias])
    expected = {"W_x": g[0].numpy().T, "W_h": g[1].numpy().T, "b_h": g[2].numpy(),
                "W_y": g[3].numpy().T, "b_y": g[4].numpy()}
    loss, grads = classifier_loss_and_grads(params, x, y)
    assert loss == pytest.approx(float(keras_loss), abs=LOSS_ATOL)
    for key in rnnbook.PARAM_NAMES:
        assert grads[key].shape == params[key].shape
        assert grads[key].dtype == np.float32
        np.testing.assert_allclose(grads[key], expected[key], atol=GRAD_ATOL, rtol=0)


@pytest.mark.parametrize("batch, time, inputs, units", [(3, 5, 2, 4), (2, 9, 1, 6), (1, 1, 3, 2)])
def test_classifier_gradients_match_finite_differences(batch, time, inputs, units, rng):
    params = random_params(rng, inputs, units, dtype="float64")
    x = rng.normal(size=(batch, time, inputs))
    y = rng.integers(0, 2, size=(batch, 1)).astype(float)
    _, grads = classifier_loss_and_grads(params, x, y)
    for key in rnnbook.PARAM_NAMES:
        numeric = rnnbook.numerical_gradient(lambda: classifier_loss_and_grads(params, x, y)[0],
                                             params[key], eps=1e-5)
        assert rnnbook.relative_error(grads[key], numeric) < 1e-6, key


def test_classifier_accepts_flat_labels(rng):
    params = random_params(rng, 1, 4, dtype="float64")
    x, y = sum_sign_task(rng, 5, 3)
    a = classifier_loss_and_grads(params, x, y)
    b = classifier_loss_and_grads(params, x, y[:, 0])
    assert a[0] == b[0]


# ------------------------------------------------------------------------------- training curves

class PaperAdam(Adam):
    """Algorithm 1 of Kingma & Ba (2015): bias-corrected moments and a constant epsilon added to
    sqrt(v_hat). Same float32 arithmetic as rnnbook.Adam otherwise."""

    def step(self, params, grads):
        t = self.iterations + 1
        for key, p in params.items():
            dt = p.dtype
            g = np.asarray(grads[key], dtype=dt)
            m = self.m.setdefault(key, np.zeros_like(p))
            v = self.v.setdefault(key, np.zeros_like(p))
            m += (g - m) * dt.type(1 - self.beta_1)
            v += (g * g - v) * dt.type(1 - self.beta_2)
            m_hat, v_hat = m / dt.type(1 - self.beta_1**t), v / dt.type(1 - self.beta_2**t)
            p -= dt.type(self.learning_rate) * m_hat / (np.sqrt(v_hat) + dt.type(self.epsilon))
        self.iterations += 1


@pytest.fixture(scope="module")
def adam_fit():
    """The reference run: model.fit with Adam, 64 steps (4 epochs of 16 batches of 32), in order.
    Returns the data, the initial weights, Keras's per-step losses (each batch's loss before its
    update), its epoch losses and its final weights."""
    keras.utils.set_random_seed(7)
    x, y = sum_sign_task(np.random.default_rng(1234), 512)
    model = seed_model()
    initial = {k: v.copy() for k, v in model_params(model).items()}
    step_losses = []

    class BatchLoss(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            part = slice(32 * batch, 32 * (batch + 1))
            step_losses.append(float(keras.losses.BinaryCrossentropy()(y[part], self.model(x[part]))))

    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    fit = model.fit(x, y, epochs=4, batch_size=32, shuffle=False, verbose=0, callbacks=[BatchLoss()])
    return x, y, initial, step_losses, fit.history["loss"], model_params(model)


def assert_same_run(history, params, adam_fit):
    """The training-parity check: per-step losses, epoch losses and final weights within 1e-6."""
    _, _, _, step_losses, epoch_losses, final = adam_fit
    np.testing.assert_allclose(history["batch_loss"], step_losses, atol=TRAINING_ATOL, rtol=0)
    np.testing.assert_allclose(history["loss"], epoch_losses, atol=TRAINING_ATOL, rtol=0)
    for key in rnnbook.PARAM_NAMES:
        np.testing.assert_allclose(params[key], final[key], atol=TRAINING_ATOL, rtol=0)


def test_training_curve_matches_model_fit(adam_fit):
    """64 Adam steps (4 epochs of 16 batches): per-step losses, epoch losses and weights agree."""
    x, y, initial, step_losses, _, _ = adam_fit
    params = {k: v.copy() for k, v in initial.items()}
    history = train_classifier(params, x, y, Adam(), epochs=4, batch_size=32)
    assert len(history["batch_loss"]) == len(step_losses) == 64
    assert_same_run(history, params, adam_fit)
    assert history["loss"][-1] < history["loss"][0]                     # it did learn


def test_parity_check_detects_the_papers_constant_epsilon_adam(adam_fit):
    """The check above must be able to fail. Algorithm 1 of the paper, with its constant epsilon,
    ends the same run 2.3e-5 (batch losses) and 7.7e-5 (weights) away from Keras: 20 to 80 times
    the tolerance, so the parity check rejects it."""
    x, y, initial, _, _, _ = adam_fit
    params = {k: v.copy() for k, v in initial.items()}
    history = train_classifier(params, x, y, PaperAdam(), epochs=4, batch_size=32)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_same_run(history, params, adam_fit)


def test_epoch_loss_is_weighted_mean_of_batch_losses_with_ragged_last_batch(rng, keras_seed):
    x, y = sum_sign_task(rng, 100)                                      # batches 32, 32, 32, 4
    model = seed_model(units=8)
    params = model_params(model)
    history = train_classifier(params, x, y, SGD(0.1, momentum=0.9), epochs=2, batch_size=32)
    sizes = np.array([32, 32, 32, 4])
    first_epoch = np.dot(history["batch_loss"][:4], sizes) / 100
    assert history["loss"][0] == pytest.approx(first_epoch, rel=1e-12)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy")
    fit = model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(history["loss"], fit.history["loss"], atol=TRAINING_ATOL, rtol=0)


def test_training_with_clipping_matches_global_clipnorm(rng, keras_seed):
    x, y = sum_sign_task(rng, 256)
    model = seed_model()
    params = model_params(model)
    history = train_classifier(params, x, y, Adam(), epochs=7, batch_size=32, clip_norm=0.5)
    assert sum(n > 0.5 for n in history["grad_norm"]) > 10              # clipping was active
    model.compile(optimizer=keras.optimizers.Adam(global_clipnorm=0.5), loss="binary_crossentropy")
    fit = model.fit(x, y, epochs=7, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(history["loss"], fit.history["loss"], atol=TRAINING_ATOL, rtol=0)
    final = model_params(model)
    for key in rnnbook.PARAM_NAMES:
        np.testing.assert_allclose(params[key], final[key], atol=TRAINING_ATOL, rtol=0)


# ------------------------------------------------------------------------------- error paths

@pytest.mark.parametrize("make, match", [
    (lambda: SGD(learning_rate=0.0), r"learning_rate must be positive and finite; got 0.0"),
    (lambda: SGD(learning_rate=-1), r"learning_rate must be positive"),
    (lambda: SGD(momentum=1.0), r"momentum must be in \[0, 1\); got 1.0"),
    (lambda: SGD(momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (lambda: Adam(learning_rate=0), r"learning_rate must be positive"),
    (lambda: Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\); got 1.0"),
    (lambda: Adam(beta_2=-0.5), r"beta_2 must be in \[0, 1\)"),
])
def test_optimizers_reject_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("optimizer", [SGD(), SGD(momentum=0.5), Adam()])
def test_optimizer_step_rejects_mismatched_gradients(optimizer):
    params = {"W": np.zeros((2, 3)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match=r"same keys as params.*\['W', 'b'\].*\['W'\]"):
        optimizer.step(params, {"W": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(3, 2\) but params\['W'\] has shape \(2, 3\)"):
        optimizer.step(params, {"W": np.zeros((3, 2)), "b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['b'\] contains NaN"):
        optimizer.step(params, {"W": np.zeros((2, 3)), "b": np.array([np.nan, 0.0])})
    with pytest.raises(TypeError, match=r"params\['b'\] must be a NumPy array"):
        optimizer.step({"W": np.zeros((2, 3)), "b": [0.0, 0.0]}, {"W": np.zeros((2, 3)), "b": np.zeros(2)})


def test_clip_by_norm_rejects_non_positive_norm():
    with pytest.raises(ValueError, match=r"max_norm must be a positive number .*; got 0"):
        clip_by_norm({"w": np.ones(2)}, 0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: bce_loss(np.zeros((3, 1)), np.zeros((3, 2))), ValueError,
     r"y_true and y_pred must have the same shape; got y_true \(3, 1\) and y_pred \(3, 2\)"),
    (lambda: bce_loss(np.float64(1.0), np.float64(0.5)), ValueError, r"at least one dimension"),
    (lambda: bce_loss(np.zeros(2), np.array(["a", "b"])), TypeError, r"y_pred must be a numeric"),
    (lambda: bce_loss(np.zeros(2), np.array([0.5, np.nan])), ValueError, r"y_pred contains NaN"),
    (lambda: bce_grad(np.zeros((2, 1)), np.zeros((1, 2))), ValueError,
     r"y_true and logits must have the same shape"),
])
def test_losses_reject_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_classifier_rejects_bad_input(rng):
    params = random_params(rng, 1, 4, dtype="float64")
    x, y = sum_sign_task(rng, 6, 5)
    with pytest.raises(ValueError, match=r"params is missing \['b_y'\]"):
        classifier_loss_and_grads({k: v for k, v in params.items() if k != "b_y"}, x, y)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, input\) and y \(batch, 1\) with the same batch; got x \(6, 5, 1\), y \(5, 1\)"):
        classifier_loss_and_grads(params, x, y[:5])
    with pytest.raises(ValueError, match=r"x must be \(batch, time, input\)"):
        classifier_loss_and_grads(params, x[:, :, 0], y)
    with pytest.raises(ValueError, match=r"input size of x"):
        classifier_loss_and_grads(params, np.zeros((6, 5, 2)), y)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, input\) and y \(batch, 1\) with the same batch"):
        train_classifier(params, x, y[:4], SGD())
    with pytest.raises(ValueError, match=r"epochs and batch_size must be positive; got 0, 32"):
        train_classifier(params, x, y, SGD(), epochs=0)
    with pytest.raises(ValueError, match=r"epochs and batch_size must be positive; got 1, 0"):
        train_classifier(params, x, y, SGD(), batch_size=0)
    with pytest.raises(ValueError, match=r"max_norm must be a positive number"):
        train_classifier(params, x, y, SGD(), clip_norm=-1.0)

