"""A sync run's tally stays small however large the folder, and its email still counts every photo."""

from activities.email import summary_body, summary_subject
from workflows.shared import LISTED_PER_STATUS, DriveFileOutcome, SyncTally


def test_a_large_batch_keeps_counts_of_all_and_names_only_the_first_of_each_status():
    tally = SyncTally()
    for i in range(LISTED_PER_STATUS + 10):
        tally.add(DriveFileOutcome(file_id=f"f{i}", name=f"p{i}.png", status="succeeded", output_file_id=f"o{i}"))
    tally.add(DriveFileOutcome(file_id="bad", name="bad.png", status="failed", reason="not a readable image"))

    assert tally.counts == {"succeeded": LISTED_PER_STATUS + 10, "failed": 1}
    assert len(tally.outcomes) == LISTED_PER_STATUS + 1
    assert summary_subject(tally.outcomes, tally.counts) == f"{LISTED_PER_STATUS + 10} photos edited, 1 failed"
    (_, edited), _ = summary_body("Ana", tally.outcomes, "https://drive.test", "https://app.test",
                                  tally.counts).sections
    assert edited[-1].label == "and 10 more, listed on your dashboard"
