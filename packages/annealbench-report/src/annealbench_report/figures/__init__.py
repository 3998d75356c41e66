"""Figures: inline SVG drawn with matplotlib from the records and the analysis. The shared look
is in style; one module per figure (budget, detail, forest, training). Imports records/ and
analysis/, never pages/."""
