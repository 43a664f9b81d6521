"""torch.layout: how a tensor's elements are stored.  ``ember.strided`` (a
dense array), ``ember.sparse_coo`` and ``ember.sparse_csr`` (see ops/sparse.py)."""


class layout:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "torch." + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))


strided = layout("strided")
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")
_mkldnn = layout("_mkldnn")
jagged = layout("jagged")

_ALL = {x.name: x for x in (strided, sparse_coo, sparse_csr, sparse_csc, sparse_bsr, sparse_bsc,
                            _mkldnn, jagged)}


def _by_name(name):
    return _ALL[name]
