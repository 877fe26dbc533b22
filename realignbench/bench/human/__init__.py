"""Human evaluation (DESIGN §7, Table 2): blinded best-of-k studies, an annotation page,
ingestion with validation, win rates, Krippendorff's α, and a labelled simulated panel.

Flow: ``export`` writes triplets.json (for annotators), keys.json (secret) and annotate.html;
annotators export JSON/CSV from the page; ``ingest`` validates them, un-blinds through the
key file and writes a ``human_eval`` run record. ``simulate`` does the same with simulated
judges driven by the policy oracle's verdicts, and says so everywhere.
"""
