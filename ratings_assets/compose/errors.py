"""What goes wrong before the stack runs, said in one line with what to do."""


class DockerError(RuntimeError):
    pass
