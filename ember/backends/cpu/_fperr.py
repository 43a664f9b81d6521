"""Silent inf/nan, as torch's, without touching NumPy's error mode.

torch computes inf and nan silently (anomaly detection is the tool to find
them); NumPy warns on every overflow and 0/0.  NumPy's error mode belongs to
the user (their own ``np.log(0)`` must warn as before), so Ember leaves it
alone and instead ignores the RuntimeWarnings NumPy raises inside Ember's
own modules: one ``warnings`` filter for modules ``ember.*``.

Filters are easily pushed aside: ``warnings.catch_warnings()`` (which pytest
wraps around every test) swaps in a copy of the list, and a later
``simplefilter("error")`` goes in front.  So the op machinery calls
``quiet()`` before each op computes: when Ember's filter is no longer first,
it is put back in front (a list look-up and a comparison otherwise, ~30 ns).
Only warnings raised in ``ember.*`` code match it; everything else keeps the
user's filters.  (An explicit ``np.seterr(all="raise")`` still raises inside
Ember: that is the user's request to NumPy.)
"""
import warnings

# The filter entry ``_install`` put in ``warnings.filters`` (a new tuple each
# time).  The recorded-op path in ember/autograd/function.py checks it inline
# (``filters[0] is _fperr.installed``) instead of calling ``quiet()``: a
# Python call per op is ~1% of op_overhead's step.
installed = None


def _install():
    global installed
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"ember\.")
    installed = warnings.filters[0]


def quiet():
    """Make sure Ember's inf/nan filter is the first one (call before computing)."""
    filters = warnings.filters
    if not filters or filters[0] is not installed:
        _install()


_install()
