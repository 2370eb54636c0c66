"""The results page of ``experiments/make_results.py``, module by module (each imports only the ones
above it in this list):

- ``wording``: how the page words a number;
- ``earlier``: the rows and verdicts of earlier pages (``--earlier``);
- ``folders``: where ``--plots`` and ``--out`` may be written;
- ``setups``: what a run is (baseline or evolution, its variant and short name, its group, finished or not);
- ``analysis``: per-run log analysis;
- ``equal_compute``: the equal-compute comparison;
- ``claims``: the paper's speciation claim and the CNN issue's targets;
- ``sections``: the page's other sections.
"""
