"""Text from documents and file systems as one terminal line: a file name may hold a newline or an escape
sequence, which printed raw would split a listing line or drive the terminal."""


def one_line(text: str) -> str:
    """``text`` with each non-printable character (newline, tab, ESC, ...) written as its Python escape;
    printable non-ASCII (Chinese names) stays as it is."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
