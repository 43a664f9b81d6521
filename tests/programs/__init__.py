"""Small training programs of the kinds in the pytorch/examples repository,
each written once against the torch API.

Every program takes the library as a parameter (``torch`` or ``ember``) and
uses nothing else of it, so the very same source runs with both:

- ``build(torch)`` makes the model(s) and returns them in a dict;
- ``make_data(seed)`` makes small synthetic NumPy data (no downloads);
- ``train(torch, models, data, ...)`` runs a few steps and returns a dict of
  per-step numbers (losses, accuracies) as Python floats.

``tests/test_example_programs.py`` builds each model in torch, copies its
weights into Ember's, trains both on the same data and compares the numbers.
"""
