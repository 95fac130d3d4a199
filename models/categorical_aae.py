"""The paper's sections 5-6: an encoder q(y, z | x) with a categorical head y and a style head z, a
decoder p(x | y, z), and one discriminator per head (y against a Categorical prior, z against a Gaussian).

Per batch, in order (the paper's appendix): reconstruction; regularization, both discriminators and
then the encoder as generator against both; for semi-supervised classification, a classification
phase, the cross-entropy of q(y | x) on a batch of labeled images.

Beyond the paper, each behind its own weight (0: the phase is not built):
- consistency (IMSAT, Hu et al. 2017; VAT, Miyato et al. 2018): KL(q(y | x) || q(y | x')) with x'
  the image moved by a few pixels and/or by VAT's adversarial perturbation, so y ignores what a
  shift (or any small change) does to the image; with it, balance (IMSAT's
  marginal term): the entropy of the batch-mean of q(y | x), maximal when every class is used alike;
  and entropy minimisation (Grandvalet and Bengio 2004; VAT + EntMin, Miyato et al. 2018; IMSAT's
  conditional term): the mean entropy of q(y | x), 0 when every image is sure of its class;
  and agreement with neighbours (SCAN, Van Gansbeke et al. 2020): q(y | x) and q(y | x') alike and
  sure for x' one of x's nearest training images (in pixels here), so the neighbours that make
  up a digit share its cluster;
- recoverability (ClusterGAN, Mukherjee et al. 2019; InfoGAN's mutual information): the encoder
  reads back the y that a prior sample (y, z) was decoded from, so each y draws its own digit;
- elastic distortion (Simard et al. 2003) of the labeled images, or of the consistency phase's
  moved image: a change of handwriting that keeps the digit; and random rotations and scalings of
  the labeled images (Cireşan et al. 2010's affine distortions);
- multiplicative Gaussian noise on the encoder's hidden units (Srivastava et al. 2014's Gaussian
  dropout; the noise at every layer that gives the Ladder network most of its gain with many labels,
  Pezeshki et al. 2016);
- weight averaging (Polyak and Juditsky 1992; the Mean Teacher's weights, Tarvainen and Valpola 2017): an
  exponential moving average of the encoder's weights, which the evaluation reads; training never sees it.
"""

import math

import tensorflow as tf
from keras import ops

from models.adversarial_autoencoder import Phase, binary_crossentropy, real_then_fake_loss
from models.networks import two_headed_encoder_pass

# Every in-graph draw names its algorithm. Under XLA, TensorFlow's default ("auto_select") draws the
# same numbers as Philox named (checked on this project's CPU step), but in some graphs ~25x slower:
# VAT's probe direction took 45 ms for a batch of 100 images, more than the rest of its phase.
RNG = "philox"


def corrupt(images, seed, noise_std, dropout, offset):
    """`images` with the paper's input corruption: Gaussian noise of std `noise_std` (its
    semi-supervised model) and/or a fraction `dropout` of pixels zeroed, the rest scaled up (its
    clustering model).

    Drawn inside the compiled step from a per-step seed, so a resumed run draws the same noise;
    each phase passes its own offset, so the phases see independent noise.
    """
    seed = seed + tf.constant([0, 1], seed.dtype) * offset
    if noise_std:
        images = images + noise_std * tf.random.stateless_normal(tf.shape(images), seed, alg=RNG)
    if dropout:
        keep = tf.random.stateless_uniform(tf.shape(images), seed + tf.constant([1, 0], seed.dtype), alg=RNG) >= dropout
        images = tf.where(keep, images / (1.0 - dropout), 0.0)
    return images


def hidden_noise_pass(encoder, seed, std, draw, features=False):
    """The encoder's training pass with each hidden unit multiplied by its own draw of 1 + N(0, std^2)
    (Srivastava et al. 2014's Gaussian dropout: std 1 is dropout's variance at p = 0.5, 0.5 at p = 0.2;
    multiplicative, so the network cannot outgrow it by scaling its activations up).

    Drawn from the step's seed and `draw`, so a resumed run draws the same noise: one draw per batch of
    images and step, which every pass over that batch shares (the phases' input noise is each their own),
    so the consistency phase's passes differ by their perturbation alone.
    """
    seed = seed + tf.constant([0, 1], seed.dtype) * draw

    def perturb(hidden, layer):  # each layer its own draw; seeds (2 + layer, draw), the input noise's (0, offset) and (1, offset)
        factor = 1.0 + std * tf.random.stateless_normal(tf.shape(hidden), seed + tf.constant([2 + layer, 0], seed.dtype), alg=RNG)
        return hidden * factor

    return lambda images: two_headed_encoder_pass(encoder, images, perturb, features=features)


def shift_offsets(count, seed, max_shift):
    """Per image a whole-pixel offset (rows, columns), each drawn uniformly from [-max_shift, max_shift]."""
    return tf.random.stateless_uniform((count, 2), seed, -max_shift, max_shift + 1, dtype=tf.int32, alg=RNG)


def shift_images(images, offsets):
    """Each image moved by its own offset; what moves in from outside the frame is 0.

    As two batched 28x28 matrix products (rows, then columns) rather than a gather: the same on a
    CPU and a GPU, and compiled by XLA like the rest of the step.
    """
    size = images.shape[1]
    positions = tf.range(size)

    def movers(offset):  # movers[b, i, j] = 1 where j = i - offset[b]: output i takes input i - offset
        return tf.cast(positions[None, :, None] - offset[:, None, None] == positions[None, None, :], images.dtype)

    return movers(offsets[:, 0]) @ images @ tf.transpose(movers(offsets[:, 1]), [0, 2, 1])


def gaussian_smoother(size, sigma, dtype=tf.float32):
    """The size x size matrix that convolves a line of pixels with a Gaussian of std `sigma` pixels (its
    weights summing to 1 over 4 sigma either side, as scipy's gaussian_filter; 0 beyond the frame)."""
    radius = math.ceil(4 * sigma)
    weights = [math.exp(-0.5 * (offset / sigma) ** 2) for offset in range(-radius, radius + 1)]
    total = sum(weights)
    rows = [[weights[j - i + radius] / total if abs(j - i) <= radius else 0.0 for j in range(size)] for i in range(size)]
    return tf.constant(rows, dtype)


def elastic_displacements(count, size, seed, alpha, sigma):
    """Simard et al. (2003)'s elastic distortion fields, (count, 2, size, size) in pixels (rows, then
    columns): per pixel a displacement uniform on [-1, 1], smoothed by a Gaussian of std `sigma`, times `alpha`."""
    fields = tf.random.stateless_uniform((count, 2, size, size), seed, -1.0, 1.0, alg=RNG)
    smoother = gaussian_smoother(size, sigma)  # symmetric: smoothing the columns is the same product on the right
    return alpha * (smoother @ fields @ smoother)


def displace_images(images, displacements):
    """Each image resampled bilinearly at its pixels' positions plus its displacement field (rows,
    columns: output (i, j) reads input (i + d_row, j + d_col)); what lies outside the frame is 0."""
    count, height, width = images.shape
    flat = tf.reshape(tf.pad(images, [[0, 0], [1, 1], [1, 1]]), (count, -1))  # a frame of zeros around each image
    rows = tf.clip_by_value(tf.range(height, dtype=images.dtype)[:, None] + displacements[:, 0], -1.0, height)
    columns = tf.clip_by_value(tf.range(width, dtype=images.dtype)[None, :] + displacements[:, 1], -1.0, width)
    row_floor, column_floor = tf.floor(rows), tf.floor(columns)
    row_weight, column_weight = rows - row_floor, columns - column_floor
    top = tf.cast(row_floor, tf.int32) + 1  # in the padded image
    left = tf.cast(column_floor, tf.int32) + 1

    def at(row, column):
        index = tf.reshape(tf.minimum(row, height + 1) * (width + 2) + tf.minimum(column, width + 1), (count, -1))
        return tf.reshape(tf.gather(flat, index, batch_dims=1), (count, height, width))

    return ((1 - row_weight) * ((1 - column_weight) * at(top, left) + column_weight * at(top, left + 1))
            + row_weight * ((1 - column_weight) * at(top + 1, left) + column_weight * at(top + 1, left + 1)))


def affine_displacements(count, size, seed, rotation, scale):
    """Random affine fields about the image's centre, (count, 2, size, size) in pixels (rows, then
    columns): each image turned by an angle uniform on [-rotation, rotation] degrees, and read along its rows
    and its columns at their own factor f uniform on [1 - scale, 1 + scale] of the distance from the centre,
    so that the digit is drawn 1 / f times its height and width (0.87-1.18 for scale 0.15; Cireşan et al. 2010
    distort with rotations and scalings beside the elastic fields)."""
    draws = tf.random.stateless_uniform((count, 3, 1, 1), seed, -1.0, 1.0, alg=RNG)
    angle = draws[:, 0] * (rotation * math.pi / 180)
    row_scale, column_scale = 1.0 + scale * draws[:, 1], 1.0 + scale * draws[:, 2]
    centred = tf.range(size, dtype=tf.float32) - (size - 1) / 2
    rows, columns = centred[:, None], centred[None, :]
    # output (i, j) reads the input at the rotation of (row_scale i, column_scale j), about the centre
    read_rows = tf.cos(angle) * row_scale * rows - tf.sin(angle) * column_scale * columns
    read_columns = tf.sin(angle) * row_scale * rows + tf.cos(angle) * column_scale * columns
    return tf.stack([read_rows - rows, read_columns - columns], axis=1)


def elastic_images(images, seed, alpha, sigma):
    """`images` each distorted by its own elastic field (Simard et al. 2003; theirs: alpha 34, sigma 4)."""
    return displace_images(images, elastic_displacements(images.shape[0], images.shape[1], seed, alpha, sigma))


# Added inside the logarithms (as IMSAT's code does) rather than clipping: a clipped probability
# gets no gradient, and a confidently wrong q(y | x') is the one that most needs it.
EPSILON = 1e-8


def virtual_adversarial_perturbation(encode, images, target, seed, epsilon, xi=1e-6):
    """VAT's perturbation (Miyato et al. 2018): per image, the direction of norm `epsilon` (a number, or
    one per image shaped to broadcast over its pixels) that most changes q(y | x), found by one power
    iteration from a random direction of norm `xi`. `encode(images)` is the encoder's training pass, (y, z).

    As in VAT's code, an image whose gradient vanishes in float32 gets no perturbation: one whose q(y | x)
    is saturated, or so flat that q(y | x + probe) / q(y | x) rounds to 1 (41 of 2000 training images
    for a trained 1000-label encoder)."""

    def unit(vectors):  # scaled by the largest entry first, as VAT's code does: the gradient at xi is tiny
        vectors = vectors / (1e-12 + tf.reduce_max(tf.abs(vectors), axis=[1, 2], keepdims=True))
        return vectors / tf.sqrt(1e-6 + tf.reduce_sum(tf.square(vectors), axis=[1, 2], keepdims=True))

    probe = xi * unit(tf.random.stateless_normal(tf.shape(images), seed, alg=RNG))
    with tf.GradientTape() as tape:
        tape.watch(probe)
        probed, _ = encode(images + probe)
        divergence = kl_divergence(target, probed)
    return epsilon * unit(tf.stop_gradient(tape.gradient(divergence, probe)))


def kl_divergence(p, q):
    """KL(p || q) of each row of two batches of distributions, averaged over the batch."""
    return ops.mean(ops.sum(p * (ops.log(p + EPSILON) - ops.log(q + EPSILON)), axis=1))


def conditional_entropy(q):
    """The mean over the batch of each row's entropy: 0 when every image is sure of one class, log K when none is."""
    return -ops.mean(ops.sum(q * ops.log(q + EPSILON), axis=1))


def marginal_entropy(q):
    """The entropy of the batch-mean of q(y | x): log K when every class is used alike, 0 when one takes all."""
    mean = ops.mean(q, axis=0)
    return -ops.sum(mean * ops.log(mean + EPSILON))


def mutual_information(p, q):
    """The mutual information of two categorical codes of the same images, from their batch's joint
    distribution: the mean over the batch of the outer product of each image's p and q (IIC, Ji et al. 2019).
    H(q) when p determines q, 0 when they are independent."""
    joint = ops.mean(p[:, :, None] * q[:, None, :], axis=0)
    outer = ops.sum(joint, axis=1, keepdims=True) * ops.sum(joint, axis=0, keepdims=True)
    return ops.sum(joint * (ops.log(joint + EPSILON) - ops.log(outer + EPSILON)))


# The auxiliary head's terms, as IMSAT weighs them on its one head of 10 clusters (weihua916/imsat: lam 0.1, mu 4):
# VAT at 1, the marginal entropy at lam * mu and the conditional entropy at lam. The entropy term makes its
# assignments sure; the categorical prior's discriminator does that for y.
AUXILIARY_BALANCE, AUXILIARY_ENTROPY = 0.4, 0.1


def neighbour_agreement_loss(q, q_neighbour):
    """SCAN's consistency (Van Gansbeke et al. 2020): the mean of -log <q(y | x), q(y | x')> over
    pairs of neighbours x, x'. 0 only when both are sure of the same class; both sides are pulled."""
    return -ops.mean(ops.log(ops.sum(q * q_neighbour, axis=1) + EPSILON))


def categorical_aae_phases(noise_std=0.0, dropout=0.0, classification=False, style_sees_class=False,
                           consistency_weight=0.0, balance_weight=0.0, max_shift=2, vat_epsilon=0.0, vat_per_image=False, vat_xi=1e-6,
                           recoverability_weight=0.0, labeled_shift=0, shared_noise=False, entropy_weight=0.0, detach_class=False,
                           neighbour_weight=0.0, labeled_elastic=0.0, labeled_rotation=0.0, labeled_scale=0.0,
                           consistency_elastic=0.0, consistency_rotation=0.0, consistency_scale=0.0, elastic_sigma=4.0, weight_average=0.0,
                           hidden_noise=0.0, consistency_in_classification=False, auxiliary_head=False, tie_weight=0.0,
                           draw=None, drawn_by=("decoder",)):
    """The phases of the categorical AAE; step inputs: "images" (the unlabeled batch), "class_prior"
    (one-hot samples), "style_prior" (Gaussian samples), "noise_seed", and with `classification`
    "labeled_images" and "labels" (one-hot).

    With `style_sees_class` the style discriminator judges (z, y) pairs, its real pairs the
    encoder's own y with a prior z (not in the paper; the supervised scheme's label to the
    discriminator, with y for the label): z is pushed to the same Gaussian whatever y is. y reaches
    it as a given (no gradient), so the generator moves z only through it.

    With `labeled_shift`, the classification phase sees each labeled image moved by up to that many
    pixels (augmentation of the few labels, as in the consistency literature's baselines); with
    `labeled_elastic` (alpha), then by an elastic distortion of smoothness `elastic_sigma` (Simard et al.
    2003: a 784-800-10 network from 1.6% to 0.7% test error with all of MNIST's labels), and with
    `labeled_rotation` (degrees) or `labeled_scale` (a fraction) by a random affine map as well
    (`affine_displacements`; Cireşan et al. 2010's MLPs trained on both kinds of distortion). With
    `consistency_elastic`, `consistency_rotation` or `consistency_scale`, the consistency phase's moved image is also
    distorted, elastically or by an affine map (both in one resampling, as the labeled images). A
    consistency phase (encoder) runs when `consistency_weight`, `balance_weight` or `entropy_weight` is positive, a
    recoverability phase (encoder and decoder) when `recoverability_weight` is. With `shared_noise`
    the consistency phase's two passes share one draw of the input corruption, so they differ only by
    the shift and VAT's perturbation (VAT's and IMSAT's inputs carry no noise); without, each pass
    draws its own. With `vat_per_image` each image's VAT norm is `vat_epsilon` times its step input
    "vat_scale" (IMSAT's per-image norm); `vat_xi` is the norm of VAT's random probe (VAT's 1e-6; IMSAT's
    code probes at 10 on images in [-1, 1], so far out that the direction is the KL's gradient at a noisy
    image). With `detach_class` the reconstruction's gradient stops at y:
    the decoder reads y as given, and y is shaped by its discriminator and the ingredients alone (as
    IMSAT's y is by its terms alone), so the reconstruction cannot split the images by what it needs
    most, their style. With `neighbour_weight` the step input "neighbour_images" holds, for each image
    of the batch, one of its nearest training images, and the consistency phase adds
    `neighbour_agreement_loss` between the two (SCAN's consistency with mined neighbours). With
    `weight_average` (a decay per step), a last phase moves the network "encoder_average" towards the
    encoder's weights (`weight_average_phase`). With `hidden_noise` (a std), every pass of the encoder on
    corrupted images multiplies each hidden unit by its own draw of 1 + N(0, hidden_noise^2)
    (`hidden_noise_pass`), one draw per batch of images and step: VAT's probe and the consistency
    phase's passes share it, whether or not they share the input noise. With
    `consistency_in_classification` the consistency phase's terms are added to the classification loss:
    one phase, one optimizer on the sum, as VAT's authors train their term with the cross-entropy.

    With `auxiliary_head`, the network "auxiliary_head" reads the encoder's last hidden layer (a second
    categorical code a; IIC trains two heads of different widths on one trunk), and the consistency phase
    also trains it as IMSAT trains its clustering head: KL(q(a | x) || q(a | x')) under the same
    perturbation (VAT's direction then the one that most changes y and a together), balance and entropy
    minimisation at IMSAT's weights; with `tie_weight` it adds tie_weight * (log |a| - I(y; a)), the
    gradient stopped at a: y's clusters pulled inside a's, so a y that splits a digit by style cannot also
    mix two digits that a parts.

    `draw(networks, y, z)` is the image decoded from (y, z) (default: the decoder of [y, z]), made
    by the networks named in `drawn_by`, which the reconstruction and recoverability phases train
    (the dimensionality-reduction model draws from its cluster heads' W_c y + z).
    """
    if draw is None:
        def draw(networks, y, z):
            return networks["decoder"]([y, z], training=True)

    def distort(images, elastic_seed, elastic, affine_seed, rotation, scale):
        """`images` distorted by an elastic field of scale `elastic` and an affine map (`affine_displacements`), in
        one resampling; either off at 0."""
        fields = []
        if elastic:
            fields.append(elastic_displacements(images.shape[0], images.shape[1], elastic_seed, elastic, elastic_sigma))
        if rotation or scale:
            fields.append(affine_displacements(images.shape[0], images.shape[1], affine_seed, rotation, scale))
        return displace_images(images, tf.add_n(fields)) if fields else images

    def style_input(z, y):
        return [z, ops.stop_gradient(y)] if style_sees_class else z

    def run_encoder(networks, inputs, batch, features=False):
        """The encoder's training pass over the batch of images numbered `batch` (0: the unlabeled images,
        1: the labeled, 2: the neighbours), with that batch's hidden noise; with `features`, (y, z, the last
        hidden layer)."""
        if hidden_noise:
            return hidden_noise_pass(networks["encoder"], inputs["noise_seed"], hidden_noise, batch, features)
        if features:
            return lambda images: two_headed_encoder_pass(networks["encoder"], images, lambda hidden, layer: hidden, features=True)
        return lambda images: networks["encoder"](images, training=True)

    def encode(networks, inputs, images, offset, batch=0, features=False):
        return run_encoder(networks, inputs, batch, features)(corrupt(images, inputs["noise_seed"], noise_std, dropout, offset))

    def auxiliary(networks, outputs):
        """The auxiliary head's q(a | x) from a pass with features (y, z, the last hidden layer)."""
        return networks["auxiliary_head"](outputs[2], training=True)

    def reconstruction_loss(networks, inputs):
        images = inputs["images"]
        y, z = encode(networks, inputs, images, 1)
        if detach_class:
            y = ops.stop_gradient(y)
        mse = ops.mean(ops.square(images - draw(networks, y, z)))
        return mse, {"reconstruction_mse": mse}

    def discriminator_phase(head, index):
        def loss(networks, inputs):
            prior = inputs[f"{head}_prior"]
            half = prior.shape[0]
            y, z = encode(networks, inputs, inputs["images"][:half], 2 + index)
            codes = ops.concatenate([prior, ops.stop_gradient((y, z)[index])], axis=0)
            if head == "style":
                codes = style_input(codes, ops.concatenate([y, y], axis=0))
            predictions = networks[f"discriminator_{head}"](codes, training=True)
            value, accuracy = real_then_fake_loss(predictions, half)
            return value, {f"discriminator_{head}_loss": value, f"discriminator_{head}_accuracy": accuracy}

        name = f"discriminator_{head}"
        return Phase(name, (name,), loss, (f"{name}_loss", f"{name}_accuracy"))

    def generator_loss(networks, inputs):
        y, z = encode(networks, inputs, inputs["images"], 4)
        fool_y = networks["discriminator_class"](y, training=True)
        fool_z = networks["discriminator_style"](style_input(z, y), training=True)
        loss_y = binary_crossentropy(ops.ones_like(fool_y), fool_y)
        loss_z = binary_crossentropy(ops.ones_like(fool_z), fool_z)
        return loss_y + loss_z, {"generator_class_loss": loss_y, "generator_style_loss": loss_z}

    def classification_loss(networks, inputs):
        images = inputs["labeled_images"]
        if labeled_shift:
            images = shift_images(images, shift_offsets(images.shape[0], inputs["noise_seed"] + 11, labeled_shift))
        images = distort(images, inputs["noise_seed"] + 12, labeled_elastic, inputs["noise_seed"] + 14, labeled_rotation, labeled_scale)
        y, _ = encode(networks, inputs, images, 5, batch=1)
        labels = inputs["labels"]
        cross_entropy = -ops.mean(ops.sum(labels * ops.log(ops.clip(y, 1e-7, 1.0)), axis=1))
        accuracy = ops.mean(ops.cast(ops.argmax(y, axis=1) == ops.argmax(labels, axis=1), "float32"))
        return cross_entropy, {"classification_loss": cross_entropy, "labeled_accuracy": accuracy}

    def consistency_loss(networks, inputs):
        images = inputs["images"]
        target_noise = 6  # the unmoved pass's corruption draw; the moved pass's is its own unless shared
        unmoved = encode(networks, inputs, images, target_noise, features=auxiliary_head)
        y = unmoved[0]
        loss, logs = 0.0, {}
        if auxiliary_head:
            a = auxiliary(networks, unmoved)
        if consistency_weight:
            # The unmoved image's q(y | x) is the target, as in VAT: only the moved image's is pulled.
            target = ops.stop_gradient(y)
            moved = images
            if max_shift:
                moved = shift_images(images, shift_offsets(images.shape[0], inputs["noise_seed"] + 7, max_shift))
            moved = distort(moved, inputs["noise_seed"] + 13, consistency_elastic, inputs["noise_seed"] + 15, consistency_rotation,
                            consistency_scale)
            moved = corrupt(moved, inputs["noise_seed"], noise_std, dropout, target_noise if shared_noise else 8)
            moved_pass = run_encoder(networks, inputs, 0, features=auxiliary_head)
            if auxiliary_head:  # y and a side by side as one code (VAT's direction for both): their KL divergences add up
                target = ops.concatenate([target, ops.stop_gradient(a)], axis=1)

                def codes_pass(images):
                    outputs = moved_pass(images)
                    return ops.concatenate([outputs[0], auxiliary(networks, outputs)], axis=1), None
            else:
                codes_pass = moved_pass
            if vat_epsilon:
                # VAT's power iteration only when the passes agree before the probe (one noise draw, no shift); else
                # the probe's gradient is the KL's own there, and the direction a one-step adversarial one.
                epsilon = vat_epsilon * inputs["vat_scale"][:, None, None] if vat_per_image else vat_epsilon
                moved = moved + virtual_adversarial_perturbation(codes_pass, moved, target, inputs["noise_seed"] + 9, epsilon, vat_xi)
            moved_codes, _ = codes_pass(moved)
            width = y.shape[-1]
            kl = kl_divergence(target[:, :width], moved_codes[:, :width])
            loss, logs["consistency_kl"] = loss + consistency_weight * kl, kl
            if auxiliary_head:
                kl = kl_divergence(target[:, width:], moved_codes[:, width:])
                loss, logs["auxiliary_consistency_kl"] = loss + consistency_weight * kl, kl
        if auxiliary_head:
            entropy = marginal_entropy(a)
            terms = AUXILIARY_BALANCE * (math.log(a.shape[-1]) - entropy) + AUXILIARY_ENTROPY * conditional_entropy(a)
            loss, logs["auxiliary_marginal_entropy"] = loss + terms, entropy
            if tie_weight:
                information = mutual_information(y, ops.stop_gradient(a))
                loss, logs["auxiliary_mutual_information"] = loss + tie_weight * (math.log(a.shape[-1]) - information), information
        if balance_weight:
            entropy = marginal_entropy(y)
            # log K - H: a loss that is 0 at perfect balance.
            loss, logs["marginal_entropy"] = loss + balance_weight * (math.log(y.shape[-1]) - entropy), entropy
        if entropy_weight:
            entropy = conditional_entropy(y)
            loss, logs["conditional_entropy"] = loss + entropy_weight * entropy, entropy
        if neighbour_weight:
            y_neighbour, _ = encode(networks, inputs, inputs["neighbour_images"], 10, batch=2)
            agreement = neighbour_agreement_loss(y, y_neighbour)
            loss, logs["neighbour_loss"] = loss + neighbour_weight * agreement, agreement
        return loss, logs

    def recoverability_loss(networks, inputs):
        wanted = inputs["class_prior"]
        drawn = draw(networks, wanted, inputs["style_prior"])
        y, _ = networks["encoder"](drawn, training=True)
        cross_entropy = -ops.mean(ops.sum(wanted * ops.log(ops.clip(y, 1e-7, 1.0)), axis=1))
        return recoverability_weight * cross_entropy, {"recoverability_loss": cross_entropy}

    phases = [
        Phase("reconstruction", ("encoder", *drawn_by), reconstruction_loss, ("reconstruction_mse",)),
        discriminator_phase("class", 0),
        discriminator_phase("style", 1),
        Phase("generator", ("encoder",), generator_loss, ("generator_class_loss", "generator_style_loss")),
    ]
    consistency_logs = (("consistency_kl",) * bool(consistency_weight) + ("marginal_entropy",) * bool(balance_weight)
                        + ("conditional_entropy",) * bool(entropy_weight) + ("neighbour_loss",) * bool(neighbour_weight)
                        + ("auxiliary_consistency_kl",) * bool(auxiliary_head and consistency_weight)
                        + ("auxiliary_marginal_entropy",) * auxiliary_head + ("auxiliary_mutual_information",) * bool(auxiliary_head and tie_weight))
    consistency_networks = ("encoder", "auxiliary_head") if auxiliary_head else ("encoder",)
    if consistency_in_classification:
        def classification_and_consistency_loss(networks, inputs):
            cross_entropy, logs = classification_loss(networks, inputs)
            consistency, more = consistency_loss(networks, inputs)
            return cross_entropy + consistency, {**logs, **more}

        phases.append(Phase("classification", ("encoder",), classification_and_consistency_loss,
                            ("classification_loss", "labeled_accuracy", *consistency_logs)))
    else:
        if classification:
            phases.append(Phase("classification", ("encoder",), classification_loss, ("classification_loss", "labeled_accuracy")))
        if consistency_logs:
            phases.append(Phase("consistency", consistency_networks, consistency_loss, consistency_logs))
    if recoverability_weight:
        phases.append(Phase("recoverability", ("encoder", *drawn_by), recoverability_loss, ("recoverability_loss",)))
    if weight_average:
        phases.append(weight_average_phase(weight_average))
    return phases


def weight_average_phase(decay, network="encoder", average="encoder_average"):
    """A phase that keeps `average` an exponential moving average of `network`'s weights:
    average <- decay * average + (1 - decay) * weights, after every step.

    As a loss, (1 - decay) / 2 * ||average - weights||^2 with the weights held fixed, for an optimizer of
    plain SGD at rate 1 (no momentum, no decay of the rate): one step along its gradient,
    (1 - decay) * (average - weights), is exactly the update above, so the trainer needs nothing new and
    the checkpoint holds the average like any network. It logs the root mean square of average - weights.
    """

    def loss(networks, inputs):
        pairs = list(zip(networks[average].trainable_variables, networks[network].trainable_variables))
        gap = sum(ops.sum(ops.square(mean - ops.stop_gradient(weights))) for mean, weights in pairs)
        count = sum(math.prod(weights.shape) for _, weights in pairs)
        return 0.5 * (1.0 - decay) * gap, {f"{average}_gap": ops.sqrt(gap / count)}

    return Phase("weight_average", (average,), loss, (f"{average}_gap",))
