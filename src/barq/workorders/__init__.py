"""The work-order engine for every field job: types, states, assignment, target times."""
