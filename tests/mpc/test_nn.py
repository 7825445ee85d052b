"""Secret-shared neural networks against torch: forward, backward, SGD, conversion, training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from secured.exceptions import ConfigurationError
from secured.mpc import Session, nn

torch.set_default_dtype(torch.float64)


@pytest.fixture(scope="module")
def s3():
    with Session(n_parties=3, timeout=60) as s:
        yield s


def _grads(module):
    return [p.grad.detach().numpy() for p in module.parameters()]


@pytest.mark.parametrize("layers", [
    lambda: [torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)],
    lambda: [torch.nn.Linear(5, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2), torch.nn.Tanh()],
    lambda: [torch.nn.Unflatten(1, (1, 5, 5))],
], ids=["relu-softmax", "sigmoid-tanh", "unsupported"])
def test_forward_and_backward_match_torch(s3, layers):
    torch.manual_seed(0)
    mods = layers()
    if isinstance(mods[0], torch.nn.Unflatten):
        with pytest.raises(ConfigurationError, match="Unflatten.*Supported layers: Sequential, Linear"):
            nn.from_torch(torch.nn.Sequential(*mods), s3)
        return
    tmodel = torch.nn.Sequential(*mods)
    model = nn.from_torch(tmodel, s3)
    x = np.random.default_rng(1).normal(size=(6, 5))
    upstream = np.random.default_rng(2).normal(size=(6, mods[-2].out_features if hasattr(mods[-2], "out_features") else 3))
    tx = torch.tensor(x, requires_grad=True)
    ty = tmodel(tx)
    ty.backward(torch.tensor(upstream))
    y = model(s3.share(x))
    np.testing.assert_allclose(y.reveal(), ty.detach().numpy(), atol=2e-3)
    dx = model.backward(s3.share(upstream))
    np.testing.assert_allclose(dx.reveal(), tx.grad.numpy(), atol=5e-3)
    for mine, theirs in zip(model.parameters(), _grads(tmodel)):
        np.testing.assert_allclose(mine.grad.reveal(), theirs, atol=5e-3)


def test_cnn_layers_backward_match_torch(s3):
    torch.manual_seed(3)
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, stride=1, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(3, 2, 2, stride=1), torch.nn.MaxPool2d(2, stride=1), torch.nn.Flatten(),
        torch.nn.Linear(2, 2))
    model = nn.from_torch(tmodel, s3)
    x = np.random.default_rng(4).normal(size=(2, 2, 6, 6))
    upstream = np.random.default_rng(5).normal(size=(2, 2))
    tx = torch.tensor(x, requires_grad=True)
    ty = tmodel(tx)
    ty.backward(torch.tensor(upstream))
    y = model(s3.share(x))
    np.testing.assert_allclose(y.reveal(), ty.detach().numpy(), atol=3e-3)
    dx = model.backward(s3.share(upstream))
    np.testing.assert_allclose(dx.reveal(), tx.grad.numpy(), atol=5e-3)
    for mine, theirs in zip(model.parameters(), _grads(tmodel)):
        np.testing.assert_allclose(mine.grad.reveal(), theirs, atol=5e-3)


@pytest.mark.parametrize("first", ["linear", "conv", "flatten"])
def test_no_input_gradient_saves_the_first_product(s3, first):
    """backward(input_grad=False) gives torch's parameter gradients for an input without
    requires_grad, returns None, and runs one product fewer (the first parameterized layer's
    input one, also behind a parameter-free first layer)."""
    torch.manual_seed(8)
    if first == "linear":
        tmodel = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        x = np.random.default_rng(9).normal(size=(6, 5))
    elif first == "flatten":
        tmodel = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        x = np.random.default_rng(9).normal(size=(6, 1, 4, 4))
    else:
        tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
        x = np.random.default_rng(9).normal(size=(3, 1, 4, 4))
    upstream = np.random.default_rng(10).normal(size=(x.shape[0], 2))
    tmodel(torch.tensor(x)).backward(torch.tensor(upstream))
    model = nn.from_torch(tmodel, s3)
    model(s3.share(x))
    s3.reset_stats()
    assert model.backward(s3.share(upstream), input_grad=False) is None
    skipped = s3.stats()["parties"][0]["bytes_sent"]
    for mine, theirs in zip(model.parameters(), _grads(tmodel)):
        np.testing.assert_allclose(mine.grad.reveal(), theirs, atol=5e-3)
    model(s3.share(x))
    s3.reset_stats()
    assert model.backward(s3.share(upstream)) is not None
    full = s3.stats()["parties"][0]["bytes_sent"]
    dx_product = 3 * 4 * 2 if first == "conv" else x.shape[0] * 2             # the input product's operands
    assert full - skipped >= 8 * 2 * dx_product


def test_losses_and_sgd_match_torch(s3):
    torch.manual_seed(6)
    tlin = torch.nn.Linear(4, 3)
    lin = nn.from_torch(tlin, s3)
    x = np.random.default_rng(7).normal(size=(8, 4))
    labels = np.random.default_rng(8).integers(0, 3, 8)
    onehot = np.eye(3)[labels]
    topt = torch.optim.SGD(tlin.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    opt = nn.SGD(lin.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tlin(torch.tensor(x)), torch.tensor(labels)).backward()
        topt.step()
        out = lin(s3.share(x))
        lin.backward(nn.CrossEntropyLoss().grad(out, onehot))
        opt.step()
        opt.zero_grad()
    np.testing.assert_allclose(lin.weight.value.reveal(), tlin.weight.detach().numpy(), atol=3e-3)
    np.testing.assert_allclose(lin.bias.value.reveal(), tlin.bias.detach().numpy(), atol=3e-3)
    z = np.random.default_rng(9).normal(size=(8, 1))
    t = (np.random.default_rng(10).random((8, 1)) > 0.5).astype(float)
    Z = s3.share(z)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
    assert abs(nn.BCEWithLogitsLoss().loss(Z, t).reveal() - ref) < 2e-3
    ref = torch.nn.functional.mse_loss(torch.tensor(z), torch.tensor(t)).item()
    assert abs(nn.MSELoss().loss(Z, t).reveal() - ref) < 1e-3
    ref = torch.nn.functional.cross_entropy(torch.tensor(x[:, :3]), torch.tensor(labels)).item()
    assert abs(nn.CrossEntropyLoss().loss(s3.share(x[:, :3]), onehot).reveal() - ref) < 2e-3
    with pytest.raises(ConfigurationError, match="one-hot"):
        nn.CrossEntropyLoss().grad(out, labels)


@pytest.mark.parametrize("parties, rounds", [(2, 0), (3, 3)])
def test_an_sgd_step_costs_a_round_per_product_not_per_parameter(parties, rounds):
    """With three parties a product by a public real is a truncation round: the optimiser
    scales all of a model's parameters at once (weight decay, momentum, learning rate: 3 rounds
    for the 6 parameters here, 18 one by one), with the same result as torch's SGD."""
    torch.manual_seed(3)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2),
                               torch.nn.ReLU(), torch.nn.Linear(2, 1)).double()
    x = np.random.default_rng(4).normal(size=(16, 4))
    y = (np.random.default_rng(5).random((16, 1)) > 0.5).astype(float)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.2, momentum=0.9, weight_decay=0.05)
    with Session(parties) as s:
        net = nn.from_torch(tnet, s)
        opt = nn.SGD(net.parameters(), lr=0.2, momentum=0.9, weight_decay=0.05)
        X = s.share(x)
        for _ in range(2):
            net.backward(nn.BCEWithLogitsLoss().grad(net(X), y), input_grad=False)
            s.reset_stats()
            opt.step()
            s.sync()
            step = s.stats()["parties"][0]
            opt.zero_grad()
            topt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(tnet(torch.tensor(x)), torch.tensor(y)).backward()
            topt.step()
        got = [p.value.reveal() for p in net.parameters()]
    assert step["rounds"] == rounds
    for value, ref in zip(got, tnet.parameters()):
        np.testing.assert_allclose(value, ref.detach().numpy(), atol=2e-3)


def test_eval_mode_layers(s3):
    bn = torch.nn.BatchNorm1d(3)
    bn.running_mean = torch.tensor([0.5, -1.0, 2.0])
    bn.running_var = torch.tensor([4.0, 0.25, 1.0])
    bn.weight.data = torch.tensor([1.5, 0.5, -1.0])
    tmodel = torch.nn.Sequential(bn, torch.nn.Dropout(0.3)).eval()
    model = nn.from_torch(tmodel, s3).eval()
    x = np.random.default_rng(11).normal(size=(5, 3))
    np.testing.assert_allclose(model(s3.share(x)).reveal(), tmodel(torch.tensor(x)).detach().numpy(), atol=1e-3)
    drop = nn.Dropout(0.5).train()
    kept = drop(s3.share(np.ones((200, 50)))).reveal()
    assert set(np.unique(np.round(kept, 3))) <= {0.0, 2.0} and 0.4 < (kept > 1).mean() < 0.6


def test_to_torch_round_trip(s3):
    torch.manual_seed(12)
    template = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    back = nn.to_torch(nn.from_torch(template, s3), template)
    for a, b in zip(back.parameters(), template.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=2e-5)
    with pytest.raises(ConfigurationError, match="do not match"):
        nn.to_torch(nn.from_torch(template, s3), torch.nn.Sequential(torch.nn.Linear(3, 2)))


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr.astype(float), yte


@pytest.mark.parametrize("arch", ["logistic", "mlp"])
def test_private_training_matches_plaintext_accuracy(s3, arch):
    """Acceptance: trained across 3 parties (rows split between them), test accuracy within
    1 point of the same model trained in plaintext torch from the same initialisation."""
    Xtr, Xte, ytr, yte = _breast_cancer()
    torch.manual_seed(0)
    if arch == "logistic":
        template = torch.nn.Sequential(torch.nn.Linear(30, 1))
    else:
        template = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                                       torch.nn.ReLU(), torch.nn.Linear(8, 1))
    plain = copy.deepcopy(template)
    lr, epochs, bs = 0.1, 3, 32
    opt = torch.optim.SGD(plain.parameters(), lr=lr, momentum=0.9)
    for _ in range(epochs):
        for i in range(0, len(Xtr), bs):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(
                plain(torch.tensor(Xtr[i:i + bs])), torch.tensor(ytr[i:i + bs, None])).backward()
            opt.step()
    acc_plain = ((plain(torch.tensor(Xte)).detach().numpy()[:, 0] > 0) == yte).mean()

    # Each party holds a third of the training rows and shares them itself.
    blocks = np.array_split(np.arange(len(Xtr)), 3)
    for r, rows in enumerate(blocks):
        s3.load(r, f"bc_{arch}", lambda rows=rows: Xtr[rows])
    X = s3.concat([s3.input_from(r, f"bc_{arch}") for r in range(3)])
    model = nn.from_torch(template, s3)
    sgd = nn.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        for i in range(0, len(Xtr), bs):
            model.backward(loss.grad(model(X[i:i + bs]), ytr[i:i + bs, None]))
            sgd.step()
            sgd.zero_grad()
    model.eval()
    acc = ((model(s3.share(Xte)).reveal()[:, 0] > 0) == yte).mean()
    assert abs(acc - acc_plain) <= 0.01, (acc, acc_plain)


def test_private_cnn_inference_on_digits(s3):
    """Acceptance: a small CNN converted with from_torch gives the plaintext class on >= 99%
    of the 8x8 digits test images, logits within the documented error."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    opt = torch.optim.Adam(cnn.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(cnn(torch.tensor(Xtr)), torch.tensor(ytr)).backward()
        opt.step()
    cnn.eval()
    logits = cnn(torch.tensor(Xte)).detach().numpy()
    model = nn.from_torch(cnn, s3).eval()
    private = model(s3.share(Xte)).reveal()
    assert np.abs(private - logits).max() < 0.02
    assert (private.argmax(1) == logits.argmax(1)).mean() >= 0.99


def test_relu_with_mask(session):
    """The training ReLU: max(x, 0) and the exact 0/1 mask from one bit injection (6 rounds with
    the masked comparison, 7 with the adder); a party refuses to store the mask over a tensor it
    already holds."""
    from secured.exceptions import PartyRefused, SecuredError

    x = np.concatenate([np.linspace(-5, 5, 101), [0.0, -2.0**-16, 2.0**-16, 1e5, -1e5]])
    t = session.share(x)
    session.reset_stats()
    y, mask = session.relu_with_mask(t)
    np.testing.assert_allclose(y.reveal(), np.maximum(np.round(x * 2**16) / 2**16, 0), atol=2 * 2**-16)
    np.testing.assert_array_equal(mask.reveal(), (np.round(x * 2**16) >= 0).astype(float))
    assert mask.bound == 1.0 and y.shape == mask.shape == x.shape
    masked = session.costs.comparison_variant(x.size, session.n_parties) == "masked"
    # the masked comparison (5) or the adder (6), then the injection
    assert session.stats()["parties"][0]["by_op"]["relu_mask"][1] == (6 if masked else 7)
    with pytest.raises((PartyRefused, SecuredError), match="new tensor id"):
        session.run("relu_mask", t, t._id)


def test_relu_with_mask_on_the_fss_gate():
    x = np.concatenate([np.linspace(-3, 3, 101), [0.0, -2.0**-16]])
    with Session(2, protocol="fss") as s:
        y, mask = s.relu_with_mask(s.share(x))
        np.testing.assert_allclose(y.reveal(), np.maximum(np.round(x * 2**16) / 2**16, 0), atol=2 * 2**-16)
        np.testing.assert_array_equal(mask.reveal(), (np.round(x * 2**16) >= 0).astype(float))
        assert s.stats()["parties"][0]["protocols"]["ge0"] == {"fss": 1, "classic": 0}


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_losss_batch_scale_joins_the_learning_rate(momentum):
    """``grad_parts`` leaves 1 / batch to the optimiser: without momentum it joins the
    learning rate's product (one truncation round for the loss's scale and the step at three
    parties instead of two), with momentum it is applied first; both follow torch's SGD."""
    torch.manual_seed(5)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1)).double()
    x = np.random.default_rng(6).normal(size=(32, 4))
    y = (np.random.default_rng(7).random((32, 1)) > 0.5).astype(float)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.3, momentum=momentum)
    with Session(3) as s:
        net = nn.from_torch(tnet, s)
        opt = nn.SGD(net.parameters(), lr=0.3, momentum=momentum)
        X = s.share(x)
        loss = nn.BCEWithLogitsLoss()
        for _ in range(3):
            g, scale = loss.grad_parts(net(X), y)
            assert scale == 1 / 32
            net.backward(g, input_grad=False)
            s.reset_stats()
            opt.step(grad_scale=scale)
            s.sync()
            rounds = s.stats()["parties"][0]["rounds"]
            opt.zero_grad()
            topt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(tnet(torch.tensor(x)), torch.tensor(y)).backward()
            topt.step()
        got = [p.value.reveal() for p in net.parameters()]
    assert rounds == (1 if momentum == 0 else 3)
    with pytest.raises(ConfigurationError, match="grad_scale"):
        opt.step(grad_scale=0.0)
    for value, ref in zip(got, tnet.parameters()):
        np.testing.assert_allclose(value, ref.detach().numpy(), atol=2e-3)
