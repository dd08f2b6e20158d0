"""One module per figure kind; each is a pure function of a list of ``StudyData`` returning a plotly figure."""
