"""Bill runs, bills and their lines, and the bill's documents (page, PDF, print file, e-bill text).

A bill run prices every due subscription of a cycle with the vector engine and writes bills and lines in
bulk, chunk by chunk, so it can be killed and resumed; approval issues the bills.
"""
