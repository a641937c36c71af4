"""The operations page's data from metric readings: throughput, lag, findings, DLQ, indicator."""

from __future__ import annotations

import httpx

from ndtms_apps.pages.dashboard import Reading, Sampler, dashboard_page, parse, summary

METRICS_T0 = """
ndtms_records_consumed_total{service="validator",topic="ndtms.episodes.raw"} 100
ndtms_consumer_lag{service="validator",topic="ndtms.episodes.raw",partition="0"} 7
ndtms_consumer_lag{service="validator",topic="ndtms.episodes.raw",partition="1"} 3
"""
METRICS_T1 = """
ndtms_records_consumed_total{service="validator",topic="ndtms.episodes.raw"} 160
ndtms_consumer_lag{service="validator",topic="ndtms.episodes.raw",partition="0"} 0
ndtms_validator_findings_total{rule="DAT002",severity="error"} 4
ndtms_validator_findings_total{rule="SEC005",severity="warning"} 1
ndtms_dlq_records_total{service="validator"} 2
ndtms_dlq_records_total{service="linker"} 1
ndtms_continuity_of_care_rate{scope="prison",group="P1"} 0.25
ndtms_continuity_of_care_transfers{scope="prison",group="P1",measure="decided"} 8
ndtms_continuity_of_care_transfers{scope="prison",group="P1",measure="engaged"} 2
ndtms_continuity_of_care_transfers{scope="prison",group="P2",measure="decided"} 0
ndtms_linker_candidates_open{prison="P2"} 3
ndtms_linker_candidates_open{prison="P1"} 0
"""


def test_summary_of_two_readings() -> None:
    readings = [
        Reading(0.0, parse(METRICS_T0), {"validator": True}),
        Reading(20.0, parse(METRICS_T1), {"validator": False}),
    ]
    result = summary(readings, ["validator"], now=25.0)
    assert result["throughput"]["validator"] == [[20.0, 3.0]]
    assert result["lag"]["validator"] == [[0.0, 10.0], [20.0, 0.0]]
    assert result["findings"] == {"DAT002": 4.0, "SEC005": 1.0}
    assert result["dead_letters"] == 3.0 and result["up"] == {"validator": False}
    [p1, p2] = result["indicator"]["prison"]
    assert (p1["group"], p1["rate"], p1["decided"], p1["engaged"]) == ("P1", 0.25, 8.0, 2.0)
    assert p2["rate"] is None
    assert result["matches_open"] == {"P1": 0.0, "P2": 3.0}


def test_no_readings_yet() -> None:
    result = summary([], ["validator"], now=5.0)
    assert result["throughput"] == {"validator": []} and result["indicator"]["national"] == []
    assert result["at"] == 5.0


def test_the_page_carries_its_charting_library_and_fetches_nothing_else() -> None:
    page = dashboard_page()
    assert "/*UPLOT_JS*/" not in page and "/*UPLOT_CSS*/" not in page
    assert "uPlot" in page and ".u-legend" in page
    assert "<script src" not in page and "<link" not in page


def test_the_treatment_measures_national_and_the_providers_with_most_waiting() -> None:
    metrics = "\n".join(
        [
            'ndtms_treatment_in_treatment{scope="national",group=""} 40',
            'ndtms_treatment_waits_median_days{scope="national",group=""} 12.5',
            *(
                f'ndtms_treatment_waiting_now_over_21_days{{scope="provider",group="P{n:02d}"}} {n % 7}'
                for n in range(14)
            ),
            'ndtms_treatment_in_treatment{scope="provider",group="P06"} 9',
        ]
    )
    result = summary([Reading(0.0, parse(metrics), {})], [], now=1.0)["measures"]
    assert result["national"]["in_treatment"] == 40.0 and result["national"]["waits_median_days"] == 12.5
    assert result["national"]["successful_completions"] is None  # not gauged yet
    assert [p["provider"] for p in result["providers"]] == [
        "P06",
        "P13",
        "P05",
        "P12",
        "P04",
        "P11",
        "P03",
        "P10",
        "P02",
        "P09",
    ]
    assert result["providers"][0]["in_treatment"] == 9.0
    assert summary([], [], now=1.0)["measures"] == {"national": None, "providers": []}


def test_every_instance_is_sampled_its_counts_add_up_and_the_national_view_is_read_once() -> None:
    """Two validator instances (each its own partitions), two linker instances (each serving the
    whole national indicator), and two ingest instances, one of them down."""
    decided = 'ndtms_continuity_of_care_transfers{scope="national",group="England",measure="decided"} 8\n'
    served = {
        "http://v0": 'ndtms_records_consumed_total{service="validator",topic="raw"} 100\n'
        'ndtms_consumer_lag{service="validator",topic="raw",partition="0"} 7\n',
        "http://v1": 'ndtms_records_consumed_total{service="validator",topic="raw"} 50\n'
        'ndtms_consumer_lag{service="validator",topic="raw",partition="3"} 5\n',
        "http://l0": decided,
        "http://l1": decided,
        "http://i0": "",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}"
        if base not in served:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, text=served[base])

    sampler = Sampler(
        {
            "ingest": ["http://i0", "http://i1"],
            "validator": ["http://v0", "http://v1"],
            "linker": ["http://l0", "http://l1"],
        }
    )
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        sampler.sample(client)
    result = sampler.summary()
    assert result["lag"]["validator"][-1][1] == 12.0  # both instances' partitions
    assert result["up"] == {"ingest": False, "validator": True, "linker": True}
    [england] = result["indicator"]["national"]
    assert england["decided"] == 8.0  # read from one linker, not added over two


def test_a_single_address_per_service_is_still_accepted() -> None:
    sampler = Sampler({"journey": "http://j0"})
    assert sampler.targets == {"journey": ["http://j0"]}
