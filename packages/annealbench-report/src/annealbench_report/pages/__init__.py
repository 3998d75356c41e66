"""Pages: the static HTML and the files published beside it. The study page (study_page) is built
from its parts in reading order (top, tables, tuning, detail, status, answer), the index from
index_page and index_matrix, verdicts.csv from verdicts_csv; cells and labels format what every
page shows, studies is what the study page and the index share, reproduction and
reproduction_text the check of a study against its published answer. The top layer below the CLI."""
