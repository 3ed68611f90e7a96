"""A "Credendo-shape" insurer adapter written only with the adapter toolkit: the worked
example of docs/adapters.md, checked by the insurer contract suite."""
