from bench.head_to_head import Launch
from ratings_assets.streaming.progress import startup_text


def test_the_startup_line_ratings_stream_prints_is_read_back_step_by_step():
    steps = {"storage": 0.2, "spark_session": 6.1, "catalog": 1.4, "query_start": 0.9, "first_batch": 3.5}
    line = f"started: the first batch was stored {startup_text({**steps, 'total': 12.1})}\n"
    launch = Launch("ours", 10.0, 20.0, ["batch 0: ...\n", line])
    assert launch.startup == {**steps, "total": 12.1}


def test_no_startup_line_no_steps():
    assert Launch("baseline", 10.0, 20.0, ["whatever\n"]).startup == {}
