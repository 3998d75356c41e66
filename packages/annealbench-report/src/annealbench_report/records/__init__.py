"""Records: the bottom layer. Reading a study's run directories into the tidy records table
(collect), its column contract (contract), frames cut from it (frames), the build history
(history), and the file I/O all of them share (files: JSON reads, atomic writes, faults).
Imports nothing else of the report."""
