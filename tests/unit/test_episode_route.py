"""Episodes (merge by incident, then by person within the window), the directory, and routing."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from pipeline import records as r
from pipeline.episode import (
    DEFAULT_WINDOW, PersonEpisode, assign_episode, episode_id, field_requests, incident_requests, merge,
)
from pipeline.episode import state as episodes
from pipeline.episode.identity import person_token, tokens_for
from pipeline.route import (
    SAMPLE_DIRECTORY, DirectoryError, DirectorySource, Place, covers, load_routing_rules, parse_directory, route,
    route_dispatch,
)
from pipeline.vocab import Category, Match, Pathway, Purpose, Service
from pipeline.route.make_sample_directory import PROVIDERS as SAMPLE_PROVIDERS
from tests.support.factory import T0, envelope, ems_run

KEYS = {1: SecretStr("k1-test-secret-0123456789"), 2: SecretStr("k2-test-secret-0123456789")}
RULES = load_routing_rules()
ALEX = r.Person(family="Testperson", given="Alex", birth_date=date(1990, 5, 1), sex="M",
                address=r.Address(county="Sangamon"))
KEY = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-7")


def run(pcr: str, agency: str = "ems-012", person: r.Person = ALEX, version: int = 1, at: datetime = T0,
        **overrides) -> r.EmsRun:
    base = ems_run(pcr, key=KEY, agency_id=agency, patient=person, version=version, **overrides)
    return base.model_copy(update={"envelope": envelope(pcr, version).model_copy(update={"occurred_at": at})})


def detected(one: r.EmsRun, *categories: Category, died: bool = False, contact: bool = True) -> r.Detection:
    return r.Detection(envelope=one.envelope, key=one.key,
                       subject=r.SourceRef(topic="ems.run", record_id=one.envelope.source_record_id,
                                           version=one.envelope.source_record_version),
                       categories=list(categories), rules_version="t", patient_died=died, patient_contact=contact,
                       evidence=[r.Evidence(category=c, rule_id=f"rule.{c.value}", field="eSituation.11")
                                 for c in categories])


OPIOID = (Category.OVERDOSE, Category.OPIOID_OVERDOSE)


# ---------------------------------------------------------------- identity

def test_person_token_is_keyed_normalised_and_versioned():
    same = r.Person(family="testperson ", given="ALEX", birth_date=date(1990, 5, 1), sex="male")
    token, match = person_token(ALEX, KEYS, "x")
    assert match == Match.EXACT and token.key_version == 2
    assert person_token(same, KEYS, "y")[0] == token
    assert person_token(ALEX, {1: KEYS[1]}, "x")[0].person_token != token.person_token  # rotation changes it
    by_dob = r.Person(family="Testperson", birth_date=date(1990, 5, 1))
    assert person_token(by_dob, KEYS, "x")[1] == Match.UNCERTAIN
    by_phone = r.Person(family="Testperson", given="Alex", phone="+1 (217) 555-0100")
    assert person_token(by_phone, KEYS, "x")[1] == Match.UNCERTAIN
    nameless, match = person_token(r.Person(), KEYS, "ems-1/PCR-9")
    assert match == Match.UNCERTAIN and nameless != person_token(r.Person(), KEYS, "ems-1/PCR-8")[0]


def test_tokens_for_finds_a_person_under_every_key_version_and_rule():
    found = {(t.person_token, t.key_version, rule) for t, rule in tokens_for(ALEX, KEYS)}
    assert (person_token(ALEX, {1: KEYS[1]}, "-")[0].person_token, 1, "exact") in found
    assert (person_token(ALEX, KEYS, "-")[0].person_token, 2, "exact") in found
    assert {rule for _, _, rule in found} == {"exact", "dob"}


# ---------------------------------------------------------------- merge by incident

def test_two_units_of_two_agencies_and_the_cad_incident_make_one_request_per_service():
    fire = run("PCR-F", agency="fire-3")
    transport = run("PCR-T", agency="ems-012", at=T0 + timedelta(minutes=9))
    cad = r.DispatchIncident(envelope=envelope("INC-7", system="eido:psap-north"), key=KEY, call_type="OD")
    requests = incident_requests([(fire, detected(fire, *OPIOID)), (transport, detected(transport, *OPIOID))],
                                 RULES, KEYS, cad)
    assert [q.service for q in requests] == [Service.SUD_TREATMENT, Service.PEER_RECOVERY]
    first = requests[0]
    assert {s.record_id for s in first.source_records} == {"PCR-F", "PCR-T", "INC-7"}
    assert first.episode_id == episode_id(KEY) and first.match == Match.EXACT
    assert first.envelope.occurred_at == T0  # the episode starts with the first unit
    assert incident_requests([(fire, detected(fire, *OPIOID)), (transport, detected(transport, *OPIOID))],
                             RULES, KEYS, cad) == requests  # deterministic


@pytest.mark.parametrize("died, contact, categories, count", [
    (False, True, OPIOID, 2),
    (True, True, OPIOID, 0),  # died: the detection stands for surveillance only
    (False, False, OPIOID, 0),  # no patient contact
    (False, True, (), 0),
    (False, True, (Category.SUICIDE_RISK, Category.BEHAVIORAL_HEALTH), 1),
])
def test_death_and_no_contact_open_no_request(died, contact, categories, count):
    one = run("PCR-1")
    assert len(incident_requests([(one, detected(one, *categories, died=died, contact=contact))],
                                 RULES, KEYS)) == count


def test_a_death_on_any_unit_stops_the_request_for_that_person():
    fire, transport = run("PCR-F", agency="fire-3"), run("PCR-T")
    pairs = [(fire, detected(fire, *OPIOID)), (transport, detected(transport, *OPIOID, died=True))]
    assert incident_requests(pairs, RULES, KEYS) == []


def test_a_nameless_run_alone_is_its_own_uncertain_request():
    nameless = run("PCR-N", person=r.Person(sex="M"))
    [request] = incident_requests([(nameless, detected(nameless, Category.SUICIDE_RISK))], RULES, KEYS)
    assert request.match == Match.UNCERTAIN


def test_a_nameless_first_responder_run_opens_no_second_request_beside_the_named_patient():
    fire = run("PCR-F", agency="fire-3", person=r.Person(sex="M"))
    transport = run("PCR-T")
    requests = incident_requests([(fire, detected(fire, *OPIOID)), (transport, detected(transport, *OPIOID))],
                                 RULES, KEYS)
    assert {q.match for q in requests} == {Match.EXACT} and len(requests) == 2  # sud-treatment, peer-recovery
    assert {s.record_id for q in requests for s in q.source_records} == {"PCR-T"}  # content not merged
    died = [(fire, detected(fire, *OPIOID, died=True)), (transport, detected(transport, *OPIOID))]
    assert incident_requests(died, RULES, KEYS) == []  # a death on the nameless unit: fail safe
    woman = run("PCR-W", agency="fire-3", person=r.Person(sex="F"))
    apart = incident_requests([(woman, detected(woman, *OPIOID)), (transport, detected(transport, *OPIOID))],
                              RULES, KEYS)
    assert {q.match for q in apart} == {Match.EXACT, Match.UNCERTAIN}  # not the same patient: kept apart


# ---------------------------------------------------------------- merge by person

def test_an_amendment_and_a_later_unit_update_the_request_instead_of_opening_another(tmp_path):
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    store.migrate()
    first = run("PCR-T")
    [request, _] = incident_requests([(first, detected(first, *OPIOID))], RULES, KEYS)
    created = episodes.merge_request(store, request, DEFAULT_WINDOW, T0)
    assert created.revision == 1
    assert episodes.merge_request(store, request, DEFAULT_WINDOW, T0) == created  # a replay changes nothing
    amended = run("PCR-T", version=2, narrative="amended: pt admits heroin use")
    [again, _] = incident_requests([(amended, detected(amended, *OPIOID, Category.SUBSTANCE_USE))], RULES, KEYS)
    updated = episodes.merge_request(store, again, DEFAULT_WINDOW, T0)
    assert updated.request_id == created.request_id and updated.revision == 2
    assert Category.SUBSTANCE_USE in updated.categories
    # two days later, another incident for the same person: the same episode (72 h window)
    later_key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-9")
    later = run("PCR-L", at=T0 + timedelta(days=2)).model_copy(update={"key": later_key})
    [third, _] = incident_requests([(later, detected(later, *OPIOID))], RULES, KEYS)
    merged = episodes.merge_request(store, third, DEFAULT_WINDOW, T0)
    assert merged.request_id == created.request_id and merged.revision == 3
    assert {s.record_id for s in merged.source_records} == {"PCR-T", "PCR-L"}
    # a week later: a new episode, a new request
    week = run("PCR-W", at=T0 + timedelta(days=9)).model_copy(
        update={"key": r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-99")})
    [fourth, _] = incident_requests([(week, detected(week, *OPIOID))], RULES, KEYS)
    fresh = episodes.merge_request(store, fourth, DEFAULT_WINDOW, T0)
    assert fresh.request_id != created.request_id and fresh.revision == 1
    runs, _ = episodes.incident_records(store, KEY)
    assert runs == []  # merge_request keeps requests; source records are saved by the stages
    store.close()


def _merged_in_one_batch(store, batch):
    """As route-decide-render merges: every request of the batch in one `Store.batch()` transaction."""
    with store.batch():
        return [episodes.merge_request(store, q, DEFAULT_WINDOW, T0) for q in batch]


def test_a_batch_merged_in_one_transaction_ends_as_one_at_a_time_does(tmp_path):
    from pipeline.storage import open_store

    first, amended = run("PCR-T"), run("PCR-T", version=2, narrative="amended: pt admits heroin use")
    later = run("PCR-L", at=T0 + timedelta(days=2)).model_copy(
        update={"key": r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-9")})
    batch = [incident_requests([(one, detected(one, *OPIOID))], RULES, KEYS)[0] for one in (first, amended, later)]
    results, tables = [], []
    for name, merge_all in (("one", lambda s: [episodes.merge_request(s, q, DEFAULT_WINDOW, T0) for q in batch]),
                            ("batch", lambda s: _merged_in_one_batch(s, batch))):
        store = open_store(f"sqlite:///{tmp_path / f'{name}.db'}")
        store.migrate()
        results.append(merge_all(store))
        with store.transaction() as tx:
            tables.append([tx.fetchall(f"SELECT * FROM {t} ORDER BY 1, 2") for t in ("person_episode", "episode_request")])
        store.close()
    assert results[0] == results[1] and [q.revision for q in results[1]] == [1, 2, 3]
    assert tables[0] == tables[1]


def test_a_batch_of_runs_saved_in_one_transaction_sees_what_one_at_a_time_would(tmp_path):
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    store.migrate()
    a, b = run("PCR-A"), run("PCR-B", agency="fire-3")
    seen = episodes.save_runs(store, [a, b, a], T0)
    assert [[x.pcr_number for x in runs] for runs, _ in seen] == [["PCR-A"], ["PCR-A", "PCR-B"], ["PCR-A", "PCR-B"]]
    assert episodes.incident_records(store, KEY) == seen[-1]
    store.close()


def test_assign_episode_window_edges():
    request = r.ReferralRequest(envelope=envelope("x").model_copy(update={"occurred_at": T0}), request_id="q",
                         person=r.PersonKey(person_token="t", key_version=1), episode_id="ep-new",
                         service=Service.SUD_TREATMENT)
    inside = PersonEpisode("ep-old", T0 - timedelta(days=5), T0 - timedelta(hours=71))
    outside = PersonEpisode("ep-older", T0 - timedelta(days=9), T0 - timedelta(hours=73))
    assert assign_episode(request, [inside], DEFAULT_WINDOW) == "ep-old"
    assert assign_episode(request, [outside], DEFAULT_WINDOW) == "ep-new"
    assert assign_episode(request, [inside, PersonEpisode("ep-new", T0, T0)], DEFAULT_WINDOW) == "ep-new"
    assert merge(request, "ep-old", None).request_id != merge(request, "ep-new", None).request_id


@pytest.mark.parametrize("gap,joins", [
    (timedelta(hours=71), True), (timedelta(hours=72) - timedelta(seconds=1), True), (timedelta(hours=72), True),
    (timedelta(hours=72) + timedelta(seconds=1), False), (timedelta(hours=73), False)])
def test_the_72_hour_window_at_its_boundary_after_and_before_an_episode(gap, joins):
    """Within the window means up to and including 72 h of event time, on either side of the episode."""
    def request_at(at):
        return r.ReferralRequest(envelope=envelope("x").model_copy(update={"occurred_at": at}), request_id="q",
                          person=r.PersonKey(person_token="t", key_version=1), episode_id="ep-new",
                          service=Service.SUD_TREATMENT)

    episode = PersonEpisode("ep-old", T0 - timedelta(days=1), T0)
    expected = "ep-old" if joins else "ep-new"
    assert assign_episode(request_at(T0 + gap), [episode], DEFAULT_WINDOW) == expected  # after its last record
    assert assign_episode(request_at(T0 - timedelta(days=1) - gap), [episode], DEFAULT_WINDOW) == expected  # before
    assert DEFAULT_WINDOW == timedelta(hours=72)


def test_a_field_referral_joins_the_incident_episode():
    referral = r.FieldReferral(envelope=envelope("FR-1", system="field:pd-7"), agency_id="pd-7", referral_id="FR-1",
                               referrer_role="officer", pathway=Pathway.OFFICER_INTERVENTION, subject=ALEX,
                               services=[Service.SUD_TREATMENT, Service.HOUSING_SOCIAL], incident=KEY)
    requests = field_requests(referral, RULES, KEYS)
    assert [q.service for q in requests] == [Service.SUD_TREATMENT, Service.HOUSING_SOCIAL]
    one = run("PCR-T")
    [from_ems, _] = incident_requests([(one, detected(one, *OPIOID))], RULES, KEYS)
    assert requests[0].request_id == from_ems.request_id  # same person, episode and service
    assert requests[0].pathway == Pathway.OFFICER_INTERVENTION


# ---------------------------------------------------------------- directory and routing

def sangamon_request(service: Service = Service.SUD_TREATMENT) -> r.ReferralRequest:
    return r.ReferralRequest(envelope=envelope("x"), request_id="q", person=r.PersonKey(person_token="t", key_version=1),
                      episode_id="ep", service=service, subject=ALEX)


def test_the_sample_directory_loads_with_its_conventions():
    directory = DirectorySource().current()
    clinic = directory.get("org-bridge-clinic")
    assert clinic.health_care_provider and clinic.endpoint.kind == "inbox" and clinic.capacity == 12
    assert clinic.counties == (frozenset({"fips:17167", "name:sangamon"}), frozenset({"fips:17129", "name:menard"}))
    assert clinic.eligibility == "adults"  # counties by FIPS code and name (the directory names them, in IL)
    assert not directory.get("org-peer-recovery").health_care_provider
    assert clinic.part2_programme and not directory.get("org-crisis-center").part2_programme
    assert not any(p.law_enforcement for p in directory.providers)
    assert directory.get("org-mobile-crisis").polygons and directory.get("org-mobile-crisis").co_responder


def test_route_orders_the_cascade_and_honours_area_capacity_eligibility_and_exclusions():
    directory = DirectorySource().current()
    request = sangamon_request()
    cascade = route(request, directory, RULES, Place(county="Sangamon"), T0, age=34)
    assert [c.provider.id for c in cascade] == ["org-bridge-clinic", "org-harbor-recovery"]  # capacity 12 > 5
    assert cascade[0].purpose == Purpose.TREATMENT and "serves Sangamon (FIPS 17167)" in cascade[0].reasons
    assert [c.provider.id for c in route(request, directory, RULES, Place(county="Logan"), T0)] == \
        ["org-harbor-recovery"]
    assert route(request, directory, RULES, Place(county="Cook"), T0) == []
    assert route(request, directory, RULES, Place(county="Sangamon"), T0, age=16) == []  # adults only
    assert [c.provider.id for c in route(request, directory, RULES, Place(county="Sangamon"), T0,
                                         exclude=frozenset({"org-bridge-clinic"}))] == ["org-harbor-recovery"]
    full = directory.providers[0].__class__(**{**directory.get("org-bridge-clinic").__dict__, "capacity": 0})
    crowded = directory.__class__(directory.version, (full, directory.get("org-harbor-recovery")))
    assert [c.provider.id for c in route(request, crowded, RULES, Place(county="Sangamon"), T0)] == \
        ["org-harbor-recovery"]
    peer = route(sangamon_request(Service.PEER_RECOVERY), directory, RULES, Place(county="Sangamon"), T0)
    assert peer[0].purpose == Purpose.CARE_COORDINATION
    housing = route(sangamon_request(Service.HOUSING_SOCIAL), directory, RULES, Place(zip="62702"), T0)
    assert housing[0].reasons[1] == "serves ZIP 62702"


def test_point_in_polygon_only_with_coordinates():
    crisis = DirectorySource().current().get("org-mobile-crisis")
    assert covers(crisis, Place(latitude=39.80, longitude=-89.65, label="scene")) == "scene inside its service polygon"
    assert covers(crisis, Place(latitude=40.10, longitude=-89.65)) is None
    assert covers(crisis, Place(county="Sangamon")) is None  # no geocoder: an address is not a point


def test_dispatch_time_crisis_calls_get_the_on_duty_co_responder():
    directory = DirectorySource().current()
    incident = r.DispatchIncident(envelope=envelope("INC-7", system="eido:psap-north"), key=KEY, call_type="EDP",
                                  location=r.Address(latitude=39.8, longitude=-89.65))
    crisis = r.Detection(envelope=incident.envelope, key=KEY, subject=r.SourceRef(topic="dispatch.incident",
                                                                                   record_id="INC-7"),
                         categories=[Category.BEHAVIORAL_HEALTH], rules_version="t")
    [candidate] = route_dispatch(crisis, incident, directory, RULES, T0)
    assert candidate.provider.id == "org-mobile-crisis" and candidate.purpose == Purpose.EMERGENCY_RESPONSE
    cleared = incident.model_copy(update={"cleared_at": T0})
    assert route_dispatch(crisis, cleared, directory, RULES, T0) == []
    overdose = crisis.model_copy(update={"categories": [Category.OVERDOSE]})
    assert route_dispatch(overdose, incident, directory, RULES, T0) == []


def test_business_hours_bind_only_where_the_rules_say(tmp_path):
    directory = DirectorySource().current()
    housing = sangamon_request(Service.HOUSING_SOCIAL)
    sunday_night = datetime(2026, 3, 15, 23, 0, tzinfo=timezone.utc)
    assert route(housing, directory, RULES, Place(county="Sangamon"), sunday_night)  # follow-up: hours don't bind
    strict = RULES.__class__(**{**RULES.__dict__, "follow_up_hours_required": True})
    assert route(housing, directory, strict, Place(county="Sangamon"), sunday_night) == []
    monday = datetime(2026, 3, 16, 10, 0, tzinfo=timezone.utc)
    assert route(housing, directory, strict, Place(county="Sangamon"), monday)


def test_the_directory_reloads_when_its_file_changes_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "directory.json"
    bundle = json.loads(SAMPLE_DIRECTORY.read_text())
    path.write_text(json.dumps(bundle))
    source = DirectorySource(str(path))
    assert len(source.current().providers) == len(SAMPLE_PROVIDERS)
    bundle["entry"] = [e for e in bundle["entry"] if "housing" not in e["resource"]["id"]]
    bundle["meta"]["versionId"] = "sample-3"
    path.write_text(json.dumps(bundle))
    import os
    os.utime(path, (T0.timestamp() + 10, T0.timestamp() + 10))
    assert source.current().version == "sample-3" and len(source.current().providers) == len(SAMPLE_PROVIDERS) - 1
    path.write_text("{not json")
    os.utime(path, (T0.timestamp() + 20, T0.timestamp() + 20))
    assert source.current().version == "sample-3" and source.last_error  # the last good one stays
    with pytest.raises(DirectoryError):
        parse_directory({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "HealthcareService", "id": "orphan"}}]})


def test_the_directory_loads_from_a_fhir_server_following_next_links():
    bundle = json.loads(SAMPLE_DIRECTORY.read_text())
    entries = bundle["entry"]
    pages = {"/fhir/HealthcareService": entries[:15], "/fhir/page2": entries[15:]}

    class Fhir(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server interface
            path = self.path.split("?")[0]
            page = {"resourceType": "Bundle", "type": "searchset", "entry": pages[path], "meta": {"versionId": "srv-1"}}
            if path == "/fhir/HealthcareService":
                page["link"] = [{"relation": "next", "url": f"http://127.0.0.1:{self.server.server_port}/fhir/page2"}]
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fhir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        directory = DirectorySource(f"http://127.0.0.1:{server.server_port}/fhir").current()
    finally:
        server.shutdown()
    assert directory.version == "srv-1" and len(directory.providers) == len(SAMPLE_PROVIDERS)


def test_episode_state_past_its_retention_is_purged(tmp_path):
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    store.migrate()
    old = run("PCR-OLD")
    episodes.save_record(store, "ems.run", old, old.key, T0)
    [request, _] = incident_requests([(old, detected(old, *OPIOID))], RULES, KEYS)
    episodes.merge_request(store, request, DEFAULT_WINDOW, T0)
    assert episodes.purge(store, T0 - timedelta(days=1)) == {
        "episode_record": 0, "person_episode": 0, "episode_request": 0}
    assert episodes.purge(store, T0 + timedelta(days=1)) == {
        "episode_record": 1, "person_episode": 1, "episode_request": 1}
    assert episodes.incident_records(store, KEY) == ([], None)
    store.close()


def test_retention_is_counted_from_when_handoff_stored_the_state_not_from_the_event(tmp_path):
    """A run from a year ago (a backfill, a replay) is kept its full retention once stored; the
    purge used to drop it within the hour, and a replayed request then rendered without its
    sources: other content, a second message to the recipient."""
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    store.migrate()
    stored = T0 + timedelta(days=365)
    old = run("PCR-OLD")
    episodes.save_record(store, "ems.run", old, old.key, stored)
    [request, _] = incident_requests([(old, detected(old, *OPIOID))], RULES, KEYS)
    episodes.merge_request(store, request, DEFAULT_WINDOW, stored)
    nothing = {"episode_record": 0, "person_episode": 0, "episode_request": 0}
    assert episodes.purge(store, T0 + timedelta(days=1)) == nothing  # event time past the cut: kept
    assert episodes.load_sources(store, request.source_records) == [old]
    assert episodes.purge(store, stored + timedelta(days=1)) == {
        "episode_record": 1, "person_episode": 1, "episode_request": 1}
    with pytest.raises(episodes.MissingSource, match="ems.run/PCR-OLD not in the episode store"):
        episodes.load_sources(store, request.source_records)  # never a render without its sources
    store.close()


def test_opening_hours_are_read_in_the_sites_time_zone():
    from zoneinfo import ZoneInfo

    directory = DirectorySource().current()
    strict = RULES.__class__(**{**RULES.__dict__, "follow_up_hours_required": True})
    housing = sangamon_request(Service.HOUSING_SOCIAL)
    utc_evening = datetime(2026, 3, 16, 23, 30, tzinfo=timezone.utc)  # Monday 18:30 in Chicago
    assert route(housing, directory, strict, Place(county="Sangamon"), utc_evening) == []
    chicago = utc_evening.astimezone(ZoneInfo("America/Chicago"))
    assert route(housing, directory, strict, Place(county="Sangamon"), chicago) == []  # closes at 17:00
    afternoon = datetime(2026, 3, 16, 21, 0, tzinfo=timezone.utc).astimezone(ZoneInfo("America/Chicago"))
    assert route(housing, directory, strict, Place(county="Sangamon"), afternoon)  # 16:00 local: open
    assert route(housing, directory, strict, Place(county="Sangamon"),
                 datetime(2026, 3, 16, 21, 0, tzinfo=timezone.utc)) == []  # 21:00 read as UTC: closed
