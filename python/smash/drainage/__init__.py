"""The drainage network: D8 flow directions, upstream order, accumulation and masks (one graph module,
`d8`), the ordered network the Fortran core routes along, and the checks of a mesh."""
