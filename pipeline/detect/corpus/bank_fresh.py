"""Phrase and code bank of the FRESH part: a third charting voice (rural agency, "upon arrival" prose,
lower-case CAD notes), written after the issue-18 rule changes and before any rule saw it.

Never tune rules on this part: it is the blind measure. A miss found here is fixed, if at all, by
adding a case of its class to the tuning bank first (and the fresh numbers are then no longer blind).
"""

WORDS = {
    "finder": ["his wife", "the neighbor", "a family member", "sheriff's deputy", "her mom", "a friend", "motel staff"],
    "other_person": ["stepdaughter", "cousin", "brother-in-law", "boyfriend", "mother", "grandson"],
    "route": ["IN", "IM", "IV"],
    "opioid": ["heroin", "fentanyl", "oxycodone", "percs", "opioids", "dope", "methadone", "blues"],
    "opioid_alt": ["fentynal", "heroen", "oxy", "roxies", "fent"],
    "stimulant": ["meth", "cocaine", "crack", "methamphetamine", "molly"],
    "stimulant_alt": ["crystal", "coke"],
    "alcohol": ["vodka", "beer", "whiskey", "alcohol", "rum"],
    "alcohol_alt": ["etoh", "ETOH"],
    "naloxone": ["Narcan", "naloxone"],
    "naloxone_alt": ["narcan", "narcane"],
    "street": ["heroin", "meth", "cocaine", "fentanyl"],
    "rx_pills": ["her grandmother's blood pressure pills", "a bottle of children's vitamins", "his dad's clonidine",
                 "her mom's seizure meds"],
    "apap_pills": ["Tylenol", "acetaminophen"],
    "ssri_pills": ["her Zoloft", "sertraline", "his antidepressants"],
    "benzo_pills": ["Xanax", "clonazepam"],
    "opioid_pills": ["oxycodone", "hydrocodone", "her Percocet"],
    "cardiac_pills": ["metoprolol"],
    "caller_rel": ["HER FIANCE", "MY SON", "HIS MOTHER", "THE ROOMMATE", "RP'S BROTHER", "A GUY IN THE PARKING LOT",
                   "HER TEENAGE DAUGHTER"],
}

CODES = {
    "opioid_od": ["T40.1X4A", "T40.411A", "F11.220", "T40.2X1A", "T40.601A"],
    "od_nonspecific": ["R40.20", "R40.4", "T50.901A", "R06.89"],
    "fatal": ["R99", "I46.9"],
    "stim_od": ["T40.5X1A", "T43.621A", "T43.641A"],
    "stim_intox": ["F15.129", "F14.129", "F15.920"],
    "alcohol": ["F10.129", "F10.920", "F10.10"],
    "withdrawal": ["F10.230", "F11.23", "F11.93"],
    "intentional": [("T39.1X2A", "apap_pills", False), ("T43.222A", "ssri_pills", False),
                    ("T42.4X2A", "benzo_pills", False), ("T40.2X2A", "opioid_pills", True),
                    ("T44.7X2A", "cardiac_pills", False)],
    "psych": ["F32.A", "F41.1", "F20.9", "F31.2", "R45.1", "F43.10"],
    "attempt": [("T14.91", "X78.1XXA"), ("T71.192A", "T71.192A"), ("T14.91", "")],
    "medical": [
        ("I21.9", "R07.9", "Upon arrival found {age} y/o {sex} sitting in recliner c/o crushing chest pain, diaphoretic. 12 lead STEMI alert. ASA, NTG x1, transported emergent."),
        ("S72.141A", "M25.551", "Upon arrival pt lying on kitchen floor after a mechanical fall, unable to bear weight, R leg shortened. Fentanyl 75 mcg IN for pain, scoop stretcher."),
        ("J45.901", "R06.2", "Pt with hx asthma, audible wheezing, speaking 2-3 word sentences. Albuterol/atrovent neb x2, solumedrol 125 IV."),
        ("I63.9", "R47.01", "Pt's wife noticed slurred speech and R arm weakness at dinner, LKW 1845. Cincinnati positive. Stroke alert."),
        ("N20.0", "R10.9", "Pt c/o sudden severe L flank pain radiating to groin, hx kidney stones, vomiting x2. Zofran 4 IV."),
        ("S01.81XA", "R51.9", "Pt tripped on curb and struck forehead, 3 cm lac, no LOC, A&O x4. Bleeding controlled, bandaged."),
        ("E87.1", "R53.1", "Elderly pt with generalized weakness and poor appetite x 1 week per daughter, lethargic but oriented."),
        ("R55", "R42", "Pt fainted at the grocery store after standing a long time, now alert, orthostatic changes noted."),
    ],
    "hypo": ["E11.649", "E16.2"],
    "ams_other": ["I61.9", "R40.4", "G40.901", "A41.9"],
    "peds": ["T46.5X1A", "T44.7X1A", "T45.4X1A"],
    "mpds_od": ["23-D-1", "23-C-5", "23D01", "23-C-1"],
    "mpds_od_intentional": ["23-C-5I", "23-D-1I"],
    "mpds_suicide": ["25-B-3", "25-A-2", "25B05"],
    "mpds_psych": ["25-A-1", "25-D-1", "25-B-6"],
    "mpds_unc": ["31-D-3", "31-D-2"],
    "mpds_od_child": ["23-C-5A", "23-B-1A"],
    "mpds_only": [("23-C-5", "od"), ("23-D-1", "od"), ("23-C-1", "od"), ("23-B-1", "od"), ("23-C-5I", "od_intent"),
                  ("25-A-1", "bh"), ("25-D-1", "bh"), ("25-B-6", "bh"), ("25-B-3", "sui"), ("25-A-2", "sui"),
                  ("17-B-3J", "sui"), ("27-D-3Y", "sui"), ("26-A-10", "none"), ("31-D-3", "none"), ("9-E-1", "none"),
                  ("10-D-4", "none"), ("17-D-3", "none"), ("27-D-3", "none")],
    "bh_medical": [("E16.2", "R45.1", "bh_low_sugar"), ("F05", "N39.0", "bh_uti"), ("R56.9", "R45.1", "bh_ictal"),
                   ("S06.5X0A", "R41.0", "bh_tbi"), ("F03.911", "R41.0", "bh_sundown")],
    "su_code": ["F11.20", "F14.20", "F10.20", "F12.10", "R78.0", "F15.10"],
}

PHR = {
    "opioid_od": [
        "Upon arrival found pt slumped in driver's seat of running car, snoring respirations, pinpoint pupils. {finder} states pt had been using {drug}. {nal} {dose} mg {route}, pt woke up and is now talking.",
        "Pt found by {finder} on bathroom floor, gray and barely breathing. Syringe on sink. BVM, {nal} {dose} mg {route} with pt becoming responsive.",
        "{age} y/o {sex} OD'd on {drug} per {finder}. Pt apneic on arrival. {nal} given, spontaneous resps returned, pt A&O x3.",
        "Pt admits to snorting {drug} before going limp in the kitchen. Resp rate 6, O2 sat 72%. {nal} given with good response.",
        "Suspected {drug} overdose. Pt found unresponsive in a tent by {finder}. {nal} given, RR improved from 4 to 14, pt now alert.",
    ],
    "refusal_addon": [
        "Pt regained full capacity and refused transport, AMA signed, left with {finder}.",
        "Pt declined ER, refusal explained and signed.",
    ],
    "fatal_od": [
        "Upon arrival pt supine in bed, cold, rigor present, dependent lividity. Burnt foil and a straw on nightstand; {finder} states pt had relapsed on {drug}. Obvious death, coroner notified.",
        "Pt in cardiac arrest, bystander CPR in progress; {nal} given by deputy prior with no change. Pt known to use {drug}. Resuscitation terminated after 30 min.",
        "Pt found dead in motel bathroom by {finder}, suspected {drug} overdose, needle in arm. No resuscitation.",
    ],
    "stim_od": [
        "Pt overdosed on {drug} per {finder}: extremely agitated, temp 104.8, HR 168. Versed IM, cooling.",
        "{age} y/o {sex} with seizure and chest pain after smoking a lot of {drug} tonight, suspected {drug} OD.",
        "Pt took way too much {drug} at a festival per friends, hyperthermic and tachycardic, suspected overdose.",
    ],
    "stim_intox": [
        "Pt admits to using {drug} last night, paranoid that people are following {him}, HR 130. Pt calm with crew.",
        "Deputy requested eval of {sex} who has been smoking {drug} for two days, jittery, dilated pupils, no complaints.",
        "Pt states {he} is coming down off {drug}, feels shaky and anxious, vitals otherwise stable.",
    ],
    "alcohol": [
        "Pt found asleep on park bench, strong smell of {alc}, slurred speech, states {he} drank all afternoon.",
        "{age} y/o {sex} at a tailgate, very drunk after {alc}, vomiting, arousable to voice.",
        "Pt intoxicated on {alc}, fell down 3 stairs, small abrasion to elbow, admits drinking since noon.",
        "Bar security called for {sex} too intoxicated to walk, empty {alc} bottle in hand.",
    ],
    "withdrawal": [
        "Pt states {he} is sick from withdrawal, last used {drug} 36 hrs ago, vomiting, body aches, wants detox.",
        "Pt with shakes and sweats, stopped drinking {alc} 2 days ago after heavy daily use, seeing things.",
        "Pt called requesting help getting into rehab for {drug} addiction, calm, vitals WNL.",
    ],
    "intentional": [
        "Pt took about {count} of {pills} after a fight with {his} partner and told {finder} {he} wanted to die.",
        "Upon arrival pt tearful, admits swallowing {pills} to end {his} life. Empty bottle in the bedroom.",
        "Pt overdosed on {pills} intentionally per pt, states {he} is done with life.",
        "{finder} found a note and an empty bottle of {pills}; pt admits it was a suicide attempt.",
    ],
    "recreational_addon": [
        "Pt also uses {drug} most days per {finder}.",
        "Pt also smoked {drug} earlier tonight.",
    ],
    "psych": [
        "Upon arrival pt pacing in the yard, hearing voices telling {him} to hurt others, hx schizophrenia, off meds.",
        "Pt with severe anxiety attack, hyperventilating, carpopedal spasms, hx panic disorder. Coached breathing.",
        "Pt manic, has not slept in 4 days, pressured speech, spending sprees per family, hx bipolar. Voluntary psych eval.",
        "Pt brought to ER on involuntary hold by deputies for bizarre and threatening behavior.",
        "Pt depressed and withdrawn, crying, states {he} feels worthless, no plan to harm self.",
    ],
    "neg_substance_addon": [
        "No drugs or alcohol per pt.",
        "Pt denies drinking or drug use.",
    ],
    "si": [
        "Pt states {he} wants to end {his} life and has been thinking about hanging {him}self.",
        "Pt called 988 saying {he} is suicidal; crisis line requested EMS. Pt cooperative.",
        "{age} y/o {sex} with suicidal thoughts after losing custody of kids, plan to drive into a tree.",
        "Pt posted a goodbye note on social media and told {finder} {he} wants to die.",
    ],
    "attempt": [
        "Pt cut both wrists with a box cutter in a suicide attempt, bleeding controlled with pressure dressings.",
        "Pt attempted to hang {him}self from a closet rod, found by {finder}, ligature mark, A&O.",
        "Pt stabbed {him}self in the thigh trying to kill {him}self, wound packed.",
    ],
    "alcohol_addon": [
        "Pt has been drinking {alc} all evening.",
        "Smells of {alc}, admits several drinks tonight.",
    ],
    "fatal_suicide": [
        "Pt found hanging in barn by {finder}, obvious death, rigor, no resuscitation.",
        "Self-inflicted gunshot wound to the head, obvious death, pronounced on scene.",
        "Pt jumped from a bridge in an apparent suicide, pulseless, CPR without ROSC, pronounced.",
    ],
    "neg_addon": [
        "Denies drugs and alcohol.",
        "No signs of ingestion or overdose.",
        "Pt denies SI.",
        "No ETOH or drugs involved.",
    ],
    "hist_addon": [
        "Pt has a history of {drug} use, sober 6 years.",
        "PMH includes depression and anxiety, well controlled.",
        "Hx of overdose years ago, none since per pt.",
        "Remote hx of suicide attempt as a teen.",
    ],
    "third_addon": [
        "Pt says {his} {other} overdosed on {drug} in the spring.",
        "Pt's {other} drinks heavily and lives in the home.",
        "Pt stressed because {his} {other} is using {drug} again.",
        "Pt's {other} died by suicide two years ago.",
    ],
    "hypo": [
        "Diabetic pt found confused and sweaty by {finder}, BGL {gluc}. {nal} given by deputy with no change. D10 IV, pt alert.",
        "Pt unresponsive, sugar {gluc}, {nal} withheld as no opioid suspected. Glucagon 1 mg IM with improvement.",
    ],
    "nal_other": [
        "Pt found down with facial droop and R sided weakness, {nal} given without change, stroke alert.",
        "Pt postictal after seizure, {nal} given with no response, slowly improving.",
        "Pt septic appearing, altered, {nal} {dose} mg {route} without effect.",
    ],
    "peds": [
        "{age} y/o child got into {pills} on the counter, mom unsure how many are missing. Child playful.",
        "Toddler found chewing on {pills}, parent called poison control who advised ER eval.",
    ],
    "alcohol_si": [
        "Pt drunk on {alc} and telling deputies {he} wants to kill {him}self.",
        "Pt intoxicated after {alc}, texted {finder} that {he} was going to end it all.",
    ],
    "psych_dispatch_medical": [
        "Paged out for a psych call; upon arrival",
        "Dispatched for behavioral issue, on scene",
    ],
    "linked_run": [
        "Pt conscious on arrival after Narcan by deputies, refused all care, see CAD.",
        "Pt alert, declined evaluation and transport, refusal signed. Details in CAD.",
    ],
    "cancelled": [
        "Cancelled by dispatch before arrival.",
        "Patient gone on arrival, no contact.",
    ],
    "d_opioid": [
        "caller says friend od on {drug} in the bathroom not breathing, giving {nal}",
        "male down in alley unresponsive, poss {drug} overdose, bystander doing cpr",
        "rp advs boyfriend used {drug}, now blue and gurgling",
        "deputy on scene gave {nal} to subj, poss {drug} od, subj breathing now",
    ],
    "d_od_party": [
        "subj at party took too much {drug}, now seizing",
        "poss od on {drug}, subj very agitated and overheating",
    ],
    "d_intentional": [
        "caller states wife took a whole bottle of {pills} and wants to die",
        "teen swallowed {pills} after fight with parents, said she wanted to kill herself",
    ],
    "d_suicide": [
        "subj on overpass threatening to jump",
        "male with rifle in truck threatening to shoot himself",
        "caller is suicidal and alone, has a plan",
    ],
    "d_psych": [
        "female yelling at traffic, says the fbi is after her, hx psych",
        "rp states adult son psychotic, breaking windows",
        "subj in crisis at bus station, talking to people who are not there",
    ],
    "d_intox": [
        "drunk male passed out on sidewalk, {alc} bottle next to him",
        "intoxicated female unable to stand outside bar",
    ],
    "d_welfare_si": [
        "rp worried about brother who posted goodbye messages and talked about killing himself",
        "check on female, coworker says she made suicidal statements",
    ],
    "d_welfare_none": [
        "check welfare elderly female not answering door",
        "welfare check on child left home alone",
    ],
    "d_unc_needle": [
        "male unconscious in gas station bathroom, needle on floor",
        "subj slumped in car, foil and lighter on lap, barely breathing",
    ],
    "d_drugs_police": [
        "poss drug deal in park, 2 subjs",
        "rp reports drug dealing from house, heavy foot traffic",
    ],
    "d_medical_neg": [
        "male chest pain, alert, no drugs or alcohol",
        "female fell from horse, conscious, denies etoh",
        "diff breathing, hx copd, no overdose",
    ],
    "d_child": [
        "3 yo ate {pills}, acting normal",
        "parent says toddler got into {pills}",
    ],
    "d_third": [
        "caller c/o back pain, says her son is using {drug} again",
        "female with abd pain, rp says boyfriend overdosed last month",
    ],
    "d_sparse": ["protocol complete", "no further info from caller", "emd done"],
    "d_rel_opioid": [
        "caller says {rel} is blue and not breathing after using {drug}, caller has {nal}",
        "{rel} overdosed on {drug} in the car, caller doing rescue breaths",
    ],
    "d_rel_suicide": [
        "caller states {rel} is threatening to kill herself with pills",
        "{rel} locked in garage with car running, said he wants to die",
    ],
    "d_rel_psych": [
        "caller says {rel} is hallucinating and screaming, hx schizophrenia",
        "{rel} in a psychiatric crisis, throwing furniture",
    ],
    "d_rel_intox": [
        "{rel} very drunk, fell and cannot get up, smells of {alc}",
    ],
    "d_le": [
        "deputy req backup, suspect in possession of {drug} and cash",
        "drug task force executing warrant, {drug} lab suspected",
        "tip about {drug} being sold behind the laundromat",
        "traffic stop, k9 hit on car, {drug} located under seat",
    ],
    "d_le_overdose": [
        "inmate in booking found unresponsive, poss {drug}, {nal} given, inmate now awake",
    ],
    "lone_sign_bh": [
        "Pt states the neighbors are poisoning {him} through the vents, disorganized, hx schizophrenia.",
        "Pt believes {his} food is poisoned and has not eaten in days, paranoid, hearing voices.",
    ],
    "lone_sign_none": [
        "Pt sick after a church potluck, vomiting, family suspects food went bad, possible poisoning.",
        "Pt collapsed while mowing, unresponsive, shockable rhythm, ROSC after 2 shocks.",
        "Pt found unresponsive by {finder}, BGL {gluc}, D10 given, pt woke up, no ingestion.",
    ],
    "bh_low_sugar": ["Pt agitated and swearing at coworkers, sweaty, BGL {gluc}. Oral glucose, pt back to normal."],
    "bh_uti": ["Elderly pt combative with staff, hallucinating, fever, cloudy urine, likely UTI delirium."],
    "bh_ictal": ["Pt combative after witnessed seizure at the mall, postictal, calming over 10 min."],
    "bh_tbi": ["Pt erratic and combative after being struck in the head with a bat, GCS 13."],
    "bh_sundown": ["Pt with dementia agitated and yelling at family in the evening, wandering, baseline per daughter."],
}

BANK = {"name": "fresh", "words": WORDS, "codes": CODES, "phr": PHR}
