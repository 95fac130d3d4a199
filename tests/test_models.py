import numpy as np

from models import build_decoder, build_discriminator, build_encoder

PAPER = {"hidden_units": 1000, "hidden_layers": 2, "init_std": 0.01, "seed": 0}  # the paper's sizes


def test_parameter_counts_match_the_seed_post():
    assert build_encoder(8, **PAPER).count_params() == 1_794_008
    assert build_decoder(8, **PAPER).count_params() == 1_794_784
    assert build_discriminator(8, **PAPER).count_params() == 1_011_001


def test_shapes_plain_and_conditioned():
    codes = np.zeros((3, 2), np.float32)
    labels = np.eye(11, dtype=np.float32)[[0, 5, 10]]
    assert build_encoder(2, **PAPER)(np.zeros((3, 28, 28), np.float32)).shape == (3, 2)
    assert build_decoder(2, **PAPER)(codes).shape == (3, 28, 28)
    assert build_decoder(2, label_dim=11, **PAPER)([codes, labels]).shape == (3, 28, 28)
    assert build_discriminator(2, **PAPER)(codes).shape == (3, 1)
    assert build_discriminator(2, label_dim=11, **PAPER)([codes, labels]).shape == (3, 1)


def test_the_conditioned_decoder_and_discriminator_take_the_label_as_input():
    # Code and one-hot label concatenated: the first layer has latent_dim + label_dim inputs.
    assert build_decoder(15, label_dim=10, **PAPER).get_layer("decoder_hidden_1").kernel.shape == (25, 1000)
    assert build_discriminator(2, label_dim=11, **PAPER).get_layer("discriminator_hidden_1").kernel.shape == (13, 1000)


def test_weights_start_from_the_papers_gaussian():
    kernel = np.asarray(build_encoder(8, **PAPER).get_layer("encoder_hidden_2").kernel)
    assert abs(kernel.mean()) < 1e-3
    assert abs(kernel.std() - 0.01) < 5e-4
    decoder_output = build_decoder(8, **PAPER)(np.random.default_rng(0).normal(0, 5, (4, 8)).astype(np.float32))
    assert np.all((np.asarray(decoder_output) >= 0) & (np.asarray(decoder_output) <= 1))
