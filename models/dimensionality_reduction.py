"""The paper's section 7: an n-D representation W_c y + z, for dimensionality reduction and visualization.

The encoder is the categorical scheme's (a one-hot head y over m clusters or classes, a style head
z of n dimensions). Each value of y has a learned cluster head, a row of W_c (m x n); the image's
representation is its cluster head plus its style, W_c y + z, and the decoder draws the image from
that n-D point alone. y is pushed onto a Categorical prior and z onto a Gaussian narrow against the
distance between heads, by the categorical scheme's two discriminators. A last phase keeps the heads
apart: a cost of zero for two heads farther than eta, growing linearly as they come closer.
"""

import keras
from keras import layers, ops

from models.adversarial_autoencoder import Phase
from models.categorical_aae import categorical_aae_phases


def build_cluster_heads(clusters, dims, *, init_std, seed, fixed=0.0, name="cluster_heads"):
    """One-hot y (clusters,) -> its cluster head W_c y (dims,): a linear map without bias, W_c's rows the heads.

    With `fixed` (needs dims == clusters), W_c is that multiple of the identity and is not trained:
    the heads are the corners of a simplex (the paper's 10-D model).
    """
    if fixed and dims != clusters:
        raise ValueError(f"fixed cluster heads need as many dimensions as clusters, got {dims} and {clusters}")
    start = keras.initializers.Identity(fixed) if fixed else keras.initializers.RandomNormal(0.0, init_std, seed)
    y = keras.Input((clusters,), name="class")
    heads = layers.Dense(dims, use_bias=False, kernel_initializer=start, trainable=not fixed, name="heads")
    return keras.Model(y, heads(y), name=name)


def head_weights(networks):
    """W_c: the cluster heads, one row per value of y."""
    return networks["cluster_heads"].get_layer("heads").kernel


def pairwise_distances(heads):
    """Euclidean distance of every two rows of `heads` (m, n), as the m (m - 1) / 2 pairs i < j."""
    m = heads.shape[0]
    squared = ops.sum(ops.square(heads[:, None, :] - heads[None, :, :]), axis=-1)
    upper = [i * m + j for i in range(m) for j in range(i + 1, m)]
    # The 1e-12 keeps the gradient finite when two heads coincide.
    return ops.sqrt(ops.take(ops.reshape(squared, (-1,)), upper) + 1e-12)


def cluster_head_cost(heads, eta):
    """The paper's cost on the heads: the sum over pairs of max(0, eta - distance), zero for heads farther than eta."""
    return ops.sum(ops.relu(eta - pairwise_distances(heads)))


def represent(networks, y, z):
    """The n-D representation of codes (y, z): the cluster head of y plus the style, W_c y + z."""
    return networks["cluster_heads"](y, training=True) + z


def dimensionality_reduction_phases(eta, fixed_heads=False, **categorical):
    """The categorical scheme's phases (`categorical`: its keyword arguments), the decoder drawing
    from W_c y + z, then the cluster-head phase: the cost of heads closer than `eta`, on W_c only.

    W_c is learned where the paper learns it: with the decoder in the reconstruction phase (and the
    recoverability phase, if on), and by this cost. With `fixed_heads` it is not learned: no
    cluster-head phase, and the other phases leave it as it is.
    """

    def draw(networks, y, z):
        return networks["decoder"](represent(networks, y, z), training=True)

    def cluster_head_loss(networks, inputs):
        cost = cluster_head_cost(head_weights(networks), eta)
        return cost, {"cluster_head_cost": cost}

    if fixed_heads:
        return categorical_aae_phases(**categorical, draw=draw)
    phases = categorical_aae_phases(**categorical, draw=draw, drawn_by=("cluster_heads", "decoder"))
    return [*phases, Phase("cluster_heads", ("cluster_heads",), cluster_head_loss, ("cluster_head_cost",))]
