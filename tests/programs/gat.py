"""Graph attention network: a multi-head attention layer written with
matrix products, LeakyReLU scores, a softmax masked by the adjacency matrix
and the heads concatenated (or averaged in the last layer); ELU between the
layers, log_softmax + nll_loss on the training nodes, Adam with weight
decay.  Dropout is a parameter (0 for the comparison with torch)."""
import numpy as np

N_NODES, N_FEATURES, N_CLASSES = 24, 10, 3


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    class GraphAttentionLayer(nn.Module):
        def __init__(self, in_features, out_features, n_heads, concat=False, dropout=0.4,
                     leaky_relu_slope=0.2):
            super().__init__()
            self.n_heads = n_heads
            self.concat = concat
            self.dropout = dropout
            if concat:                              # each head gets a share of the output
                assert out_features % n_heads == 0
                self.n_hidden = out_features // n_heads
            else:
                self.n_hidden = out_features
            self.W = nn.Parameter(torch.empty(size=(in_features, self.n_hidden * n_heads)))
            self.a = nn.Parameter(torch.empty(size=(n_heads, 2 * self.n_hidden, 1)))
            self.leakyrelu = nn.LeakyReLU(leaky_relu_slope)
            self.softmax = nn.Softmax(dim=1)
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.xavier_normal_(self.W)
            nn.init.xavier_normal_(self.a)

        def _get_attention_scores(self, h_transformed):
            # e_ij = a^T [W h_i || W h_j], as the sum of a source and a target part
            source_scores = torch.matmul(h_transformed, self.a[:, :self.n_hidden, :])
            target_scores = torch.matmul(h_transformed, self.a[:, self.n_hidden:, :])
            e = source_scores + target_scores.mT
            return self.leakyrelu(e)

        def forward(self, h, adj_mat):
            n_nodes = h.shape[0]
            h_transformed = torch.mm(h, self.W)
            h_transformed = F.dropout(h_transformed, self.dropout, training=self.training)
            h_transformed = h_transformed.view(n_nodes, self.n_heads, self.n_hidden).permute(1, 0, 2)
            e = self._get_attention_scores(h_transformed)
            connectivity_mask = -9e16 * torch.ones_like(e)
            e = torch.where(adj_mat > 0, e, connectivity_mask)     # only neighbours attend
            attention = F.softmax(e, dim=-1)
            attention = F.dropout(attention, self.dropout, training=self.training)
            h_prime = torch.matmul(attention, h_transformed)
            if self.concat:
                return h_prime.permute(1, 0, 2).contiguous().view(n_nodes, -1)
            return h_prime.mean(dim=0)

    class GAT(nn.Module):
        def __init__(self, in_features, n_hidden, n_heads, num_classes, concat=False,
                     dropout=0.4, leaky_relu_slope=0.2):
            super().__init__()
            self.gat1 = GraphAttentionLayer(in_features, n_hidden, n_heads, concat=concat,
                                            dropout=dropout, leaky_relu_slope=leaky_relu_slope)
            self.gat2 = GraphAttentionLayer(n_hidden, num_classes, 1, concat=False,
                                            dropout=dropout, leaky_relu_slope=leaky_relu_slope)

        def forward(self, input_tensor, adj_mat):
            x = self.gat1(input_tensor, adj_mat)
            x = F.elu(x)
            x = self.gat2(x, adj_mat)
            return F.log_softmax(x, dim=1)

    return GAT


def build(torch, dropout=0.0):
    return {"gat": define(torch)(N_FEATURES, 16, 4, N_CLASSES, concat=True, dropout=dropout)}


def make_data(seed=0):
    """A graph like Cora's files hold: binary word features (a node may have
    none), integer class labels and a list of directed citation edges."""
    rng = np.random.default_rng(seed)
    words = (rng.random((N_NODES, N_FEATURES)) < 0.3).astype(np.int32)
    words[3] = 0                                          # a node without words
    edges = np.argwhere(rng.random((N_NODES, N_NODES)) < 0.1)
    perm = rng.permutation(N_NODES)
    return {"words": words, "edges": edges, "labels": rng.integers(0, N_CLASSES, N_NODES),
            "idx_train": np.sort(perm[:16]), "idx_test": np.sort(perm[16:])}


def load_graph(torch, data):
    """Row-normalised features, labels and the adjacency matrix with self loops,
    built as the example's ``load_cora`` does (with a dense diagonal matrix where
    it uses a sparse one)."""
    features = torch.FloatTensor(data["words"])
    scale_vector = torch.sum(features, dim=1)
    scale_vector = 1 / scale_vector
    scale_vector[scale_vector == float("inf")] = 0       # nodes without words stay zero
    features = torch.diag(scale_vector) @ features
    labels = torch.LongTensor(data["labels"])
    V = len(labels)
    adj_mat = torch.zeros(V, V)
    adj_mat[torch.LongTensor(data["edges"][:, 0]), torch.LongTensor(data["edges"][:, 1])] = 1.0
    adj_mat = torch.eye(V) + adj_mat
    return features, labels, adj_mat


def train(torch, models, data, epochs=4):
    F = torch.nn.functional
    model = models["gat"]
    features, labels, adj = load_graph(torch, data)
    assert labels.max().item() + 1 == N_CLASSES
    idx_train, idx_test = torch.tensor(data["idx_train"]), torch.tensor(data["idx_test"])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=5e-4)
    criterion = torch.nn.NLLLoss()
    out = {"loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        y_hat = model(features, adj)[idx_train]
        loss = criterion(y_hat, labels[idx_train])
        loss.backward()
        optimizer.step()
        out["loss"].append(loss.item())
        out["train_acc"].append((y_hat.argmax(dim=1) == labels[idx_train]).sum().item()
                                / len(idx_train))
        model.eval()
        with torch.no_grad():
            output = model(features, adj)
            out["test_loss"].append(F.nll_loss(output[idx_test], labels[idx_test]).item())
            out["test_acc"].append(
                (output[idx_test].argmax(dim=1) == labels[idx_test]).float().mean().item())
    return out
