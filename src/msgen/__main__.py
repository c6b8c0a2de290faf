from msgen.cli import app

app(prog_name="msgen")
