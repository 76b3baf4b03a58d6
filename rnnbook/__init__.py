"""rnnbook: recurrent neural networks in plain NumPy, checked against Keras.

The companion package of the rnnbook tutorial. Each module holds one idea and is named after it;
this package re-exports the names readers use in exercises. Importing it has no side effects:
notebooks call :func:`rnnbook.setup` explicitly.

Notation (the whole book): column vectors in the math, ``W_x`` of shape (hidden, input),
``W_h`` (hidden, hidden), ``W_y`` (output, hidden); in code a batch is stored in rows, so
``x`` has shape (batch, time, input). Keras's weights are the transposes:
``kernel = W_x.T``, ``recurrent_kernel = W_h.T`` (see :mod:`rnnbook.keras_interop`).
"""

__version__ = "0.1.0"

from .attention import additive_attention, dot_attention, greedy_decode
from .backends import run_on_backend
from .beam import BeamResult, beam_search
from .bidirectional import bidirectional_forward, layer_forward
from .classifier import (PARAM_NAMES, classifier_logits, classifier_loss_and_grads,
                         classifier_predict, train_classifier)
from .data import adding_problem, chronological_split, random_binary_task, seattle_rain_windows
from .conv1d import conv1d_backward, conv1d_forward, receptive_field
from .cost import matmul_flops
from .dense import dense_backward, dense_forward
from .dropout import dropout_masks, keras_dropout_masks, set_keras_dropout_masks
from .forecast import (fit_linear_ar, forecast_windows, linear_ar_forecast, mae, mase,
                       newey_west_se, persistence_forecast, recursive_forecast,
                       seasonal_naive_forecast)
from .gradcheck import numerical_gradient, relative_error
from .gru import gru_backward, gru_forward, gru_step
from .keras_interop import from_keras, to_keras
from .lstm import lstm_backward, lstm_forward, lstm_step
from .layernorm import (layer_norm, layer_norm_backward, layernorm_lstm_backward,
                        layernorm_lstm_forward)
from .losses import bce_grad, bce_loss, sigmoid, softmax
from .mingru import (mingru_backward, mingru_forward, mingru_param_count, minlstm_backward,
                     minlstm_forward, minlstm_param_count)
from .neighbours import dtw_distances, nearest_neighbour_predict
from .notebook import power_of_ten_above, setup
from .optim import SGD, Adam, clip_by_norm, global_norm
from .padding import pad_sequences
from .plots import (draw_rnn_architecture, draw_rnn_architectures, draw_unrolled_rnn,
                    plot_hidden_heatmap)
from .rnn import rnn_backward, rnn_forward, rnn_step
from .scan import linear_scan, linear_scan_backward
from .sampling import (apply_temperature, char_initial_state, char_model_from_keras,
                       char_step, generate, sample_categorical)
from .stored import load_stored, save_stored, stored_path
from .stateful import batch_rows, lstm_tbptt_backward, lstm_tbptt_forward, stateful_batches
from .stability import (hidden_jacobians, jacobian_norm_bound, jacobian_product_norms,
                        jacobian_products, orthogonal, scale_to_spectral_radius, spectral_radius)

__all__ = [
    "__version__", "setup",
    "rnn_step", "rnn_forward", "rnn_backward",
    "lstm_step", "lstm_forward", "lstm_backward",
    "gru_step", "gru_forward", "gru_backward",
    "layer_forward", "bidirectional_forward",
    "dense_forward", "dense_backward",
    "forecast_windows", "persistence_forecast", "seasonal_naive_forecast", "fit_linear_ar",
    "linear_ar_forecast", "recursive_forecast", "mae", "mase", "newey_west_se",
    "random_binary_task", "adding_problem", "seattle_rain_windows", "chronological_split",
    "sigmoid", "softmax", "bce_loss", "bce_grad",
    "SGD", "Adam", "clip_by_norm", "global_norm",
    "numerical_gradient", "relative_error",
    "from_keras", "to_keras",
    "draw_unrolled_rnn", "draw_rnn_architecture", "draw_rnn_architectures", "plot_hidden_heatmap",
    "hidden_jacobians", "jacobian_products", "jacobian_product_norms", "jacobian_norm_bound",
    "spectral_radius", "scale_to_spectral_radius", "orthogonal",
    "PARAM_NAMES", "classifier_logits", "classifier_predict", "classifier_loss_and_grads",
    "train_classifier",
    "pad_sequences", "dtw_distances", "nearest_neighbour_predict",
    "apply_temperature", "sample_categorical", "char_model_from_keras", "char_initial_state",
    "char_step", "generate",
    "dot_attention", "additive_attention", "greedy_decode",
    "run_on_backend", "matmul_flops", "power_of_ten_above",
    "linear_scan", "linear_scan_backward",
    "mingru_forward", "mingru_backward", "minlstm_forward", "minlstm_backward",
    "mingru_param_count", "minlstm_param_count",
    "load_stored", "save_stored", "stored_path",
    "conv1d_forward", "conv1d_backward", "receptive_field",
    "beam_search", "BeamResult",
    "stateful_batches", "batch_rows", "lstm_tbptt_forward", "lstm_tbptt_backward",
    "dropout_masks", "keras_dropout_masks", "set_keras_dropout_masks",
    "layer_norm", "layer_norm_backward", "layernorm_lstm_forward", "layernorm_lstm_backward",
]
