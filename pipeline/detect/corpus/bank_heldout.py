"""Phrase and code bank of the HELD-OUT part: separate templates, separate code choices.

Written before any rule, in a different charting voice (CHART/SOAP style, other slang and
other ICD-10-CM codes); never tune rules on the misses of this part.
"""

WORDS = {
    "finder": ["the caller", "her boyfriend", "his father", "a passerby", "deputies", "store staff", "the landlord"],
    "other_person": ["husband", "sister", "grandson", "stepson", "uncle", "roommate", "fiance"],
    "route": ["intranasal", "IM", "IV", "IO"],
    "opioid": ["fentanyl", "heroin", "opioids", "roxicodone", "hydrocodone", "fent", "morphine", "suboxone", "dilaudid"],
    "opioid_alt": ["fetty", "herroin", "fentanly", "oxycontin", "percocets", "opiates"],
    "stimulant": ["meth", "cocaine", "amphetamines", "crack cocaine", "speed"],
    "stimulant_alt": ["coke", "ice"],
    "alcohol": ["liquor", "wine", "beers", "alcohol", "tequila"],
    "alcohol_alt": ["ETOH", "EtOH"],
    "naloxone": ["naloxone", "Narcan", "narcan nasal spray"],
    "naloxone_alt": ["narcain", "naloxen", "NARCAN"],
    "street": ["fentanyl", "coke", "meth", "heroin", "molly"],
    "rx_pills": ["his mother's metoprolol", "iron tablets", "her clonidine", "adult gummy vitamins"],
    "apap_pills": ["Tylenol PM", "acetaminophen tablets"],
    "ssri_pills": ["amitriptyline", "her bupropion", "trazodone"],
    "benzo_pills": ["alprazolam", "lorazepam", "her benzos"],
    "opioid_pills": ["oxycodone", "her tramadol", "methadone"],
    "cardiac_pills": ["his amlodipine", "diltiazem"],
    "caller_rel": ["HER HUSBAND", "MY SISTER", "HIS ROOMMATE", "RP'S NEPHEW", "OUR NEIGHBOR", "HIS GIRLFRIEND",
                   "A MALE SHE DOESN'T KNOW", "HER ADULT SON"],
}

CODES = {
    "opioid_od": ["T40.411A", "T40.0X4A", "F11.120", "T40.3X1A", "T40.691A", "T40.2X4A"],
    "od_nonspecific": ["R40.0", "R06.81", "T50.901A", "R40.4"],
    "fatal": ["R99", "I46.9", "R09.2"],
    "stim_od": ["T43.651A", "T40.5X4A", "T43.601A"],
    "stim_intox": ["F15.929", "F14.920", "F15.120"],
    "alcohol": ["F10.920", "F10.129", "F10.10"],
    "withdrawal": ["F11.93", "F10.930", "F11.220"],
    "intentional": [("T39.1X2A", "apap_pills", False), ("T43.012A", "ssri_pills", False),
                    ("T42.4X2A", "benzo_pills", False), ("T40.2X2A", "opioid_pills", True),
                    ("T46.1X2A", "cardiac_pills", False)],
    "psych": ["F31.9", "F29", "F43.0", "F41.0", "R46.2", "F25.9"],
    "attempt": [("S61.519A", "X78.0XXA"), ("T71.162A", "T71.162A"), ("T14.91", "X83.8XXA")],
    "medical": [
        ("I50.9", "R06.02", "CC: SOB. HPI: {age}{mf} CHF hx, 3 pillow orthopnea, bilat LE edema, crackles bases. CPAP 7.5, NTG SL. Tx to ED."),
        ("S82.201A", "M25.56", "CC: leg injury. HPI: pt slipped on ice, obvious deformity R tib/fib. Splinted, ketamine for pain, tx."),
        ("N39.0", "R50.9", "CC: weakness. HPI: nursing home pt, fever 101.8, foul urine per staff, hx UTI. Tx for eval."),
        ("R07.89", "R07.9", "CC: chest discomfort. HPI: {age}{mf} reports pressure after shoveling snow, 12L NSR. ASA given."),
        ("K92.2", "R11.10", "CC: vomiting blood. HPI: pt w/ coffee ground emesis x2 today, pale, tachy 112."),
        ("S09.90XA", "R51", "CC: head injury. HPI: pt struck head on cabinet, brief LOC, now GCS 15, no blood thinners."),
        ("E86.0", "R53.1", "CC: generalized weakness. HPI: {age}{mf} poor PO intake for several days, orthostatic. IV fluids."),
        ("I48.91", "R00.2", "CC: palpitations. HPI: pt feels heart racing, irregularly irregular at 140, hx afib. Diltiazem IV."),
    ],
    "hypo": ["E11.649", "E16.2", "E10.649"],
    "ams_other": ["G41.9", "I61.9", "R40.4", "A41.9"],
    "peds": ["T46.5X1A", "T45.4X1A", "T44.7X1A"],
    "mpds_od": ["23-D-1", "23-C-5", "23-C-7", "23D1"],
    "mpds_od_intentional": ["23-C-1I", "23-D-2I", "23-C-5I"],
    "mpds_suicide": ["25-B-3", "25-A-2", "17-J-1", "25-B-5"],
    "mpds_psych": ["25-A-1", "25-B-6", "25-D-1"],
    "mpds_unc": ["31-D-2", "31-D-1"],
    "mpds_od_child": ["23-C-4A", "23-O-1A"],
    # issue 18 classes, written before the rules changed
    "mpds_only": [("23-C-7", "od"), ("23-D-2", "od"), ("23-C-4", "od"), ("23-O-1A", "od"), ("23-D-1I", "od_intent"),
                  ("25-B-6", "bh"), ("25-D-1", "bh"), ("25-A-1", "bh"), ("25-B-5", "sui"), ("25-B-3", "sui"),
                  ("17-B-1J", "sui"), ("27-B-1X", "sui"), ("26-C-1", "none"), ("31-C-1", "none"), ("6-D-1", "none"),
                  ("17-B-3", "none"), ("12-A-1", "none"), ("27-B-1", "none")],
    "bh_medical": [("E11.649", "R41.82", "bh_sugar"), ("F05", "A41.9", "bh_sepsis"), ("R09.02", "R45.1", "bh_hypoxia"),
                   ("G40.901", "R46.89", "bh_seizure"), ("T67.01XA", "R41.0", "bh_heat")],
    "su_code": ["F13.20", "F16.10", "F12.188", "R78.1", "F11.10", "R78.2", "F10.229"],
}

PHR = {
    "opioid_od": [
        "C: pt found by {finder} unresponsive. H: pt has been using {drug} per {finder}. A: GCS 3, RR 6 shallow, pupils 1mm. R: BVM, {nal} {dose}mg {route}; pt regained consciousness, GCS 15. T: transported to ED.",
        "CC: OD. {age}{mf} with witnessed {drug} use, then went limp and stopped breathing. Agonal resps. {nal} {dose}mg {route} by crew, resp rate returned to 16, pt awake and talking.",
        "Arrived to find {finder} giving rescue breaths. Pt blue, minimal respirations, suspected opioid OD from {drug}. {nal} given with return of spontaneous respirations.",
        "Pt slumped over in a restaurant bathroom stall with a syringe on the floor. Pt snoring, pinpoint pupils, O2 sat 79%. Pt later admitted to shooting {drug}. {nal} given with improvement.",
        "{age}{mf} overdose, {finder} states pt smoked {drug} on foil and was unresponsive within minutes. Pt received {nal} and is now alert.",
        "Called for possible overdose. Pt lethargic, nodding, respirations slow, states {he} took {drug} he bought on the street. {nal} administered; resp increased.",
    ],
    "refusal_addon": [
        "Pt alert and oriented, capacity intact, refused transport to ED despite advice, refusal signed.",
        "Pt declined transport, AMA, left on foot with {finder}.",
    ],
    "fatal_od": [
        "C: pt found unresponsive by {finder}. A: pt pulseless, apneic, cool skin, mottled, rigor in jaw. Spoon, lighter and syringes on nightstand; {finder} states pt was using {drug} again. R: no resuscitation, ME notified.",
        "Deputies gave {nal} twice prior to our arrival with no response. Pt in asystole, {drug} residue on table. Resuscitation attempted, terminated after 25 min. Suspected fatal overdose.",
        "Pt found dead in motel room by staff, obvious signs of death, powder believed to be {drug} found in room. Med examiner contacted.",
    ],
    "stim_od": [
        "{age}{mf} became combative and hyperthermic after using large amounts of {drug}, temp 105.2, HR 170. Possible {drug} toxicity/overdose. Ice packs, midazolam.",
        "Pt OD on {drug}: chest tightness, tremors, BP 220/120, HR 155 after binge per {finder}.",
        "CC: seizure. Pt had a grand mal seizure after snorting {drug}; friends believe pt overdosed.",
    ],
    "stim_intox": [
        "Deputies detained pt for erratic behavior; pt admits to using {drug} this morning, jittery, picking at skin, HR 130. Pt cleared for jail by crew.",
        "{age}{mf} high on {drug}, restless and sweaty, states {he} has not slept in 48 hrs. No CP, no SOB.",
        "Pt reports {he} smoked {drug} and now feels like {his} heart is pounding. HR 122, BP 150/96, otherwise well.",
    ],
    "alcohol": [
        "CC: intoxication. {age}{mf} found lying near bus stop, reeks of {alc}, slurred speech, ataxic gait. Pt states {he} had about 12 {alc} today.",
        "Pt drunk at a wedding, fell and struck chin, small lac. Pt admits to drinking {alc} since noon.",
        "Pt very intoxicated after drinking {alc}, vomited x3, sleepy but arousable. BGL 98.",
        "Bar staff called, pt too drunk to stand, smells of {alc}. No trauma noted.",
    ],
    "withdrawal": [
        "Pt reports withdrawal symptoms: sweats, cramps, goosebumps. Last {drug} use yesterday morning. Asking to be taken to detox.",
        "{age}{mf} heavy daily drinker, quit {alc} 2 days ago, now shaking and seeing bugs on the walls. DTs suspected.",
        "Pt wants help to stop using {drug}, asking for MAT / rehab referral. Pt calm, vitals normal.",
    ],
    "intentional": [
        "CC: ingestion. Pt reports taking {count} tabs of {pills} about 1 hr ago with intent to harm self. Alert, HR 104.",
        "{finder} states pt locked self in room and took {pills} after saying goodbye. Pt admits it was a suicide attempt.",
        "Pt took a handful of {pills} on purpose to end {his} life, now drowsy. Empty blister packs in trash.",
        "Intentional overdose of {pills} per pt, states {he} is tired of living.",
    ],
    "recreational_addon": [
        "Pt also reports recreational {drug} use today.",
        "{finder} adds pt has been using {drug} heavily this week.",
    ],
    "psych": [
        "CC: behavioral emergency. Pt believes neighbors are poisoning {his} food, flight of ideas, hx schizoaffective disorder. Transported to psychiatric ED voluntarily.",
        "{age}{mf} with acute anxiety, chest tightness, feels like {he} is dying, hx panic disorder. Calmed with reassurance.",
        "Pt on involuntary commitment paperwork for transport, pt disorganized and responding to internal stimuli.",
        "Pt in mental health crisis after losing job, crying uncontrollably, states {he} cannot cope. Denies thoughts of harming self.",
        "Staff at group home called for pt with escalating aggressive behavior, hx autism and bipolar disorder.",
    ],
    "neg_substance_addon": [
        "Pt denies alcohol or drug use.",
        "No ETOH or drugs per pt and family.",
        "Negative for substance use.",
    ],
    "si": [
        "Pt called 911 stating {he} wanted to die and has been thinking about suicide for weeks. Pt cooperative.",
        "{age}{mf} with active suicidal thoughts, plan to jump off a bridge. Voluntary transport for psych eval.",
        "Pt told counselor {he} planned to shoot {him}self tonight; counselor called 911.",
        "Pt expressing suicidal ideations after the death of a parent.",
    ],
    "attempt": [
        "Pt attempted suicide by cutting {his} wrist with a kitchen knife, 3cm lac, bleeding controlled with pressure.",
        "{finder} interrupted pt attempting to hang {him}self in closet. Ligature marks to neck, pt A&O.",
        "Pt stabbed {him}self in the abdomen in an attempt to end {his} life, superficial wound.",
    ],
    "alcohol_addon": [
        "Pt intoxicated; admits to {alc} tonight.",
        "Pt has been drinking {alc} heavily today.",
    ],
    "fatal_suicide": [
        "Pt found by {finder} with ligature around neck, obvious death, no resuscitation. Deputies on scene.",
        "Self-inflicted GSW to chest, pt pulseless on arrival, CPR and ACLS without ROSC, pronounced on scene.",
        "Pt found by deputies after jumping from an overpass in apparent suicide, injuries incompatible with life.",
    ],
    "neg_addon": [
        "Pt denies any alcohol or drug use.",
        "No evidence of overdose or ingestion.",
        "Denies suicidal ideation.",
        "No ETOH, no drugs.",
        "Negative for SI/HI.",
    ],
    "hist_addon": [
        "PMHx significant for {drug} use disorder, sober x 3 years, on maintenance.",
        "Hx of bipolar disorder, stable on meds.",
        "Remote history of overdose, no recent use per pt.",
        "Past history of depression.",
    ],
    "third_addon": [
        "Pt worried about {his} {other} who overdosed on {drug} 2 weeks ago.",
        "Pt lives with {his} {other} who drinks heavily.",
        "Pt reports {his} {other} has been using {drug} and stealing from {him}.",
        "Pt's {other} committed suicide last year.",
    ],
    "hypo": [
        "Pt with hx of DM found by {finder} diaphoretic and confused, BGL {gluc}. {nal} administered by deputies with no effect. D10 given, pt back to baseline.",
        "Unresponsive diabetic, sugar {gluc}. Crew gave {nal} without response, then oral glucose after D10; pt recovered.",
        "BGL {gluc}, AMS. {nal} withheld, no opioid history. Glucagon IM with improvement.",
    ],
    "nal_other": [
        "Pt found down, GCS 8, unequal pupils. {nal} {dose} mg {route} without response. Stroke alert.",
        "Pt with altered LOC and fever, {nal} given with no improvement, suspected sepsis.",
        "Pt confused after fall with head strike, {nal} given empirically without effect.",
    ],
    "peds": [
        "{age} y/o child ate several {pills} found in purse, currently asymptomatic. Poison control advised transport.",
        "Parent states child swallowed {pills}, unknown quantity. Child alert.",
    ],
    "alcohol_si": [
        "Pt intoxicated after drinking {alc}, threatening suicide in front of deputies.",
        "{age}{mf} drunk on {alc}, states {he} wants to die and has thought about cutting {him}self.",
    ],
    "psych_dispatch_medical": [
        "Dispatched as behavioral problem; on assessment",
        "Reported as a psychiatric call, however",
    ],
    "linked_run": [
        "Pt alert on arrival after treatment by deputies. Refused further care.",
        "Pt awake, ambulatory, declined all EMS care, refusal signed. Refer to CAD.",
    ],
    "cancelled": [
        "Cancelled prior to arrival.",
        "No patient found at location, cleared.",
    ],
    "d_opioid": [
        "RP ADV BF POSS OD ON {drug}, NOT RESPONDING, RP ADMINISTERING {nal}",
        "SUBJ NOT BREATHING IN BATHROOM, HX {drug} USE PER RP",
        "DEPUTY ADMIN {nal}, SUBJ NOW BREATHING, POSS {drug}",
        "FEMALE PASSED OUT AFTER USING {drug}, LIPS BLUE",
    ],
    "d_od_party": [
        "POSS OD AT HOUSE PARTY, SUBJ TOOK {drug}, NOW CONFUSED",
        "SUBJ OD ON {drug}, VOMITING AND SHAKING",
    ],
    "d_intentional": [
        "RP ADV HUSBAND SWALLOWED {pills} AND SAYS HE WANTS TO DIE",
        "FEMALE TOOK ENTIRE BOTTLE OF {pills} IN SUICIDE ATTEMPT",
    ],
    "d_suicide": [
        "SUBJ TEXTED FAMILY HE IS GOING TO KILL HIMSELF, HAS A GUN",
        "FEMALE STANDING ON LEDGE OF PARKING GARAGE THREATENING TO JUMP",
        "CALLER IS SUICIDAL, WANTS TO SPEAK TO CRISIS COUNSELOR",
    ],
    "d_psych": [
        "SUBJ BELIEVES SOMEONE IS IN WALLS, VERY AGITATED, HX PSYCH",
        "RP REQ ASSIST WITH ADULT SON IN PSYCHOTIC EPISODE",
        "MALE EXPOSING HIMSELF AND YELLING AT CARS, POSS MENTAL ISSUE",
    ],
    "d_intox": [
        "SUBJ TOO DRUNK TO STAND, {alc} BOTTLE IN HAND",
        "INTOXICATED FEMALE VOMITING OUTSIDE BAR",
    ],
    "d_welfare_si": [
        "RP ADV FRIEND SAID GOODBYE AND HAS BEEN TALKING ABOUT SUICIDE",
        "CHECK ON SUBJ, FAMILY STATES SHE IS DEPRESSED AND MADE SUICIDAL STATEMENTS",
    ],
    "d_welfare_none": [
        "CHECK WELFARE OF ELDERLY MALE, FAMILY OUT OF STATE",
        "KIDS LEFT IN CAR IN PARKING LOT, CHECK WELFARE",
    ],
    "d_unc_needle": [
        "SUBJ UNCONSCIOUS ON BUS, NEEDLE IN ARM",
        "MALE DOWN BEHIND STORE, PARAPHERNALIA NEARBY, BARELY BREATHING",
    ],
    "d_drugs_police": [
        "NARCOTICS COMPLAINT, HAND TO HAND TRANSACTIONS",
        "SUSPICIOUS VEHICLE, POSS DRUG DEALING",
    ],
    "d_medical_neg": [
        "MALE FELL FROM LADDER, CONSCIOUS, NO ETOH",
        "FEMALE SYNCOPE AT CHURCH, NO DRUGS INVOLVED",
        "DIFF BREATHING, HX ASTHMA, DENIES ANY INGESTION",
    ],
    "d_child": [
        "2 YO INGESTED {pills}, CHILD ACTING NORMAL",
        "PARENT STATES CHILD SWALLOWED {pills}",
    ],
    "d_third": [
        "CALLER C/O DIZZINESS, SAYS GRANDSON OVERDOSED LAST WEEK",
        "ELDERLY FEMALE FALL, CALLER STATES NEPHEW ON {drug}",
    ],
}

PHR.update({
    "d_sparse": ["NO NARRATIVE", "EMD PER PROTOCOL", "CALL TAKER COMPLETED PROTOCOL, NO FURTHER INFO"],
    "d_rel_opioid": [
        "RP ADV {rel} SNORTED {drug}, NOW UNCONSCIOUS, RP HAS {nal}",
        "{rel} OD'D ON {drug} IN GARAGE, CALLER STARTING RESCUE BREATHS",
    ],
    "d_rel_suicide": [
        "RP STATES {rel} TOOK OFF WITH A ROPE SAYING SHE WILL HANG HERSELF",
        "CALLER ADV {rel} TEXTED THAT HE IS GOING TO END HIS LIFE TONIGHT",
    ],
    "d_rel_psych": [
        "{rel} HAVING A MANIC EPISODE, NOT SLEPT IN 4 DAYS, THREATENING NEIGHBORS",
        "RP ADV {rel} IS PARANOID AND DELUSIONAL, BARRICADED IN ROOM",
    ],
    "d_rel_intox": [
        "RP ADV {rel} PASSED OUT DRUNK ON PORCH, SMELLS OF {alc}",
    ],
    "d_le": [
        "CI REPORTS SUBJ SELLING {drug} OUT OF RED SEDAN",
        "TRAFFIC STOP, DRIVER IN POSSESSION OF {drug} AND A SCALE",
        "NARCOTICS INVESTIGATION FOLLOW UP AT MOTEL, NO MEDICAL NEEDED",
        "CONTROLLED BUY OF {drug} COMPLETED, UNITS CLEAR",
    ],
    "d_le_overdose": [
        "PRISONER IN HOLDING CELL FOUND NOT BREATHING, POSS {drug}, {nal} GIVEN BY JAILER, NOW ALERT",
    ],
    "lone_sign_bh": [
        "Pt convinced {his} ex is poisoning {his} coffee, pressured speech, known bipolar.",
        "Pt states someone is poisoning the air in the apartment, responding to internal stimuli.",
    ],
    "lone_sign_none": [
        "Pt ate undercooked chicken at a cookout, now cramping and vomiting; family fears poisoning.",
        "Pt unresponsive after witnessed collapse while jogging, AED shock x1, ROSC.",
        "{age}{mf} found unconscious in bed by {finder}, BGL {gluc}, D10 with full recovery, no drugs in home.",
    ],
    "bh_sugar": ["Known diabetic acting bizarre at work, aggressive behavior toward coworkers, sugar {gluc}. Oral glucose, mentation normalized."],
    "bh_sepsis": ["Pt delirious with fever 103, paranoid and pulling at lines, suspected sepsis."],
    "bh_hypoxia": ["COPD pt agitated and combative, SpO2 78%, hypoxic; calmer on CPAP."],
    "bh_seizure": ["Postictal pt erratic and screaming at bystanders, seizure hx, improving en route."],
    "bh_heat": ["Roofer confused and hallucinating after working in the heat, temp 105.3, cooled en route."],
})

BANK = {"name": "heldout", "words": WORDS, "codes": CODES, "phr": PHR}
