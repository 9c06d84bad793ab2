"""The teaching part: the handbook (each stage's tour, each owner's working day), `relay tour` and the role
pages in docs/roles/. A project keeps it by default and can decline it (`relay new --no-teaching`)."""
