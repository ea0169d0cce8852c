"""Phrase and code bank of the TUNING part of the detection corpus (rules may be tuned on it)."""

WORDS = {
    "finder": ["roommate", "girlfriend", "mother", "a bystander", "PD", "his brother", "a coworker", "security"],
    "other_person": ["brother", "son", "daughter", "nephew", "cousin", "best friend", "ex-husband", "neighbor"],
    "route": ["IN", "IM", "IV"],
    "opioid": ["heroin", "fentanyl", "heroin", "oxycodone", "opiates", "percocet", "fentanyl", "methadone", "dope"],
    "opioid_alt": ["herion", "fentanil", "heroine", "oxys", "percs", "opiods", "fent"],
    "stimulant": ["cocaine", "crack", "meth", "methamphetamine", "crystal meth"],
    "stimulant_alt": ["cocaine", "meth", "speed", "uppers", "ice"],
    "alcohol": ["alcohol", "vodka", "beer", "alcohol", "whiskey"],
    "alcohol_alt": ["ETOH", "EtOH", "etoh"],
    "naloxone": ["narcan", "naloxone", "Narcan"],
    "naloxone_alt": ["narcane", "nalaxone", "narcn"],
    "street": ["heroin", "cocaine", "meth", "crack", "fentanyl"],
    "rx_pills": ["her blood pressure pills", "his seizure medication", "grandmother's heart pills", "vitamins with iron"],
    "apap_pills": ["tylenol", "acetaminophen", "extra strength tylenol"],
    "ssri_pills": ["sertraline", "zoloft", "prozac", "her antidepressants"],
    "benzo_pills": ["xanax", "klonopin", "ativan"],
    "opioid_pills": ["oxycodone", "percocet", "hydrocodone"],
    "caller_rel": ["HER SON", "HIS BROTHER", "MY ROOMMATE", "CALLER'S DAUGHTER", "HER BOYFRIEND", "HIS DAD",
                   "A STRANGER", "AN UNKNOWN FEMALE"],
}

CODES = {
    "opioid_od": ["T40.1X1A", "T40.601A", "F11.920", "T40.2X1A", "T40.4X1A", "T40.1X4A"],
    "od_nonspecific": ["R40.4", "R40.20", "T50.904A", "R41.82"],
    "fatal": ["R99", "I46.9"],
    "stim_od": ["T40.5X1A", "T43.621A", "T43.641A"],
    "stim_intox": ["F14.129", "F15.10", "F14.10"],
    "alcohol": ["F10.92", "F10.129", "T51.0X1A"],
    "withdrawal": ["F11.23", "F10.239", "F11.20"],
    "intentional": [("T39.1X2A", "apap_pills", False), ("T43.222A", "ssri_pills", False),
                    ("T42.4X2A", "benzo_pills", False), ("T40.2X2A", "opioid_pills", True)],
    "psych": ["F32.9", "F41.9", "F20.9", "F99", "R45.1", "F60.8"],
    "attempt": [("T14.91", "X78.9XXA"), ("T14.91", ""), ("T71.162A", "")],
    "medical": [
        ("I21.4", "R07.9", "{age} y/o {sex} c/o substernal chest pain radiating to left arm x 1 hr, diaphoretic. 12 lead shows ST depression. ASA 324 mg PO, NTG x2."),
        ("S72.001A", "M25.55", "{age} y/o {sex} tripped on rug and fell at home, shortening and rotation L leg. Hip pain 8/10. Fentanyl 50 mcg IV for pain, splinted, transported."),
        ("I63.9", "R29.810", "Pt with sudden onset left sided weakness and facial droop, LKW 45 min ago. Stroke alert called. BGL 112."),
        ("J44.1", "R06.02", "COPD pt with increased SOB x 2 days, wheezing, SpO2 86% RA. Duoneb x2, CPAP applied with improvement."),
        ("G40.909", "R56.9", "Pt with hx of seizures had witnessed tonic clonic seizure lasting 2 min per wife. Postictal on arrival, improving."),
        ("S06.0X0A", "S09.90", "MVC, restrained driver, moderate front end damage, airbags deployed. Pt c/o headache and neck pain, c-collar applied."),
        ("R55", "R42", "Pt had a syncopal episode while standing in line at the store, witnessed by staff. Now A&O x4, no injuries noted."),
        ("J18.9", "R50.9", "{age} y/o {sex} with fever and productive cough x 4 days, weak. Lung sounds rhonchi RLL."),
        ("S52.501A", "M25.53", "Pt slipped on the ice in the parking lot, FOOSH, deformity L wrist. Ice pack and splint applied."),
    ],
    "hypo": ["E16.2", "E13.64"],
    "ams_other": ["I63.9", "R40.4", "G40.909"],
    "peds": ["T46.5X1A", "T45.4X1A", "T39.011A"],
    "mpds_od": ["23-C-5", "23-D-1", "23C5", "23-C-1"],
    "mpds_od_intentional": ["23-C-5I", "23-D-1I", "23C1I"],
    "mpds_suicide": ["25-B-3", "25-A-2", "25B3"],
    "mpds_psych": ["25-A-1", "25-B-6", "25A1"],
    "mpds_unc": ["31-D-2", "31-D-3"],
    "mpds_od_child": ["23-C-5A", "23-B-1A"],
    # determinant, meaning (dispatch_scenarios.MPDS_TRUTH)
    "mpds_only": [("23-C-1", "od"), ("23-C-5", "od"), ("23-D-1", "od"), ("23-B-1", "od"), ("23-C-1I", "od_intent"),
                  ("25-D-1", "bh"), ("25-A-1", "bh"), ("25-B-6", "bh"), ("25-B-3", "sui"), ("25-A-2", "sui"),
                  ("17-D-3J", "sui"), ("27-D-1Y", "sui"), ("26-A-1", "none"), ("31-D-2", "none"),
                  ("10-C-1", "none"), ("17-A-1", "none"), ("29-B-1", "none"), ("27-D-1", "none")],
    # impression, symptom, phrase key
    "bh_medical": [("E16.2", "R45.1", "bh_hypo"), ("F05", "N39.0", "bh_delirium"), ("R56.9", "R45.1", "bh_postictal"),
                   ("S06.0X1A", "R41.0", "bh_head"), ("F03.90", "R41.0", "bh_dementia")],
    "su_code": ["F11.20", "F14.10", "F10.20", "F12.90", "F15.20", "R78.0", "F19.10", "F13.10"],
}

PHR = {
    "opioid_od": [
        "Dispatched for an unresponsive {sex}. Found pt supine on bathroom floor, cyanotic, RR 4, pinpoint pupils. {finder} states pt used {drug} about 20 minutes ago. {nal} {dose} mg {route} given, pt became responsive and breathing adequately.",
        "{age} y/o {sex} found unresponsive in vehicle by {finder}. Agonal respirations, pupils constricted. Suspected {drug} overdose. BVM ventilation, {nal} {dose} mg {route} with good response.",
        "Pt is a {age} y/o {sex} who overdosed on {drug} per {finder}. On arrival pt snoring respirations, GCS 6. {nal} administered, pt woke up combative.",
        "Called for possible OD. Pt admits to using {drug} tonight. Pt drowsy, nodding off, pinpoint pupils, SpO2 84%. {nal} {dose} mg {route}, RR improved to 14.",
        "Pt found down in park by {finder}, needle and spoon near pt. {drug} overdose suspected. Pt apneic, assisted ventilations, {nal} given, ROSC not needed, pt now alert.",
        "{finder} gave {nal} prior to arrival after finding pt blue and not breathing. Pt states {he} snorted {drug}. Pt now A&O x3, RR 16.",
    ],
    "refusal_addon": [
        "Pt refused transport against medical advice, risks explained, signed refusal.",
        "Pt declined transport to the hospital, AMA form signed, left with family.",
    ],
    "fatal_od": [
        "Found pt prone in bedroom, cold to touch, rigor and dependent lividity present. Drug paraphernalia and suspected {drug} next to pt. Obvious death, no resuscitation attempted. PD on scene.",
        "{finder} found pt unresponsive in bathroom with tourniquet on arm. Pt pulseless, apneic, asystole on monitor. {nal} given by PD prior to arrival without change. Pt pronounced at scene, likely {drug} overdose.",
        "Pt in cardiac arrest, bystander CPR in progress. Per {finder} pt had been using {drug}. ACLS per protocol, no ROSC. Death pronounced after 30 min, suspected overdose.",
    ],
    "stim_od": [
        "{age} y/o {sex} c/o chest pain and palpitations after smoking {drug} all night, HR 160, diaphoretic, hyperthermic. Suspected {drug} overdose. Versed for agitation.",
        "Pt had a seizure after taking too much {drug} at a party per friends. Pt postictal, HR 148, BP 190/110. Overdose on {drug} suspected.",
        "Pt overdosed on {drug} per {finder}, altered and severely agitated, temp 104.1. Cooling measures initiated.",
    ],
    "stim_intox": [
        "Pt acting erratically in the street, states {he} has been up for 3 days using {drug}. Pt talking rapidly, tachycardic, no complaints. Pt calm and cooperative with crew.",
        "PD requested EMS for eval of {sex} who admits to smoking {drug} today. Pt jittery, pupils dilated, HR 124. Denies chest pain or SOB.",
        "Pt states {he} used {drug} earlier and feels anxious and shaky. Vitals WNL except HR 118. Pt requests to go to ER.",
    ],
    "alcohol": [
        "Pt found sitting on the sidewalk, strong odor of {alc} on breath, slurred speech. Pt admits drinking a fifth of {alc} today. Ambulatory with assistance.",
        "{age} y/o {sex} intoxicated at a bar, vomiting, unable to stand. Pt states {he} drank too much {alc}. Pt responsive to verbal stimuli.",
        "Pt passed out after heavy {alc} consumption at a party, arousable to pain, airway patent. Friends state pt drinks every weekend.",
        "Security called for intoxicated {sex}, {alc} on breath, fell and has small abrasion to forehead. A&O x2.",
    ],
    "withdrawal": [
        "Pt states {he} is dope sick, last used {drug} 2 days ago, c/o nausea, body aches, runny nose. Pt requesting detox.",
        "Pt with tremors and hallucinations, reports stopping {alc} 3 days ago after daily heavy drinking. Suspect alcohol withdrawal.",
        "Pt called 911 requesting help getting into treatment for {drug} addiction. Pt alert, vitals stable.",
    ],
    "intentional": [
        "Pt took {pills} in front of {finder} and said {he} did not want to live anymore.",
        "Pt states this was an intentional overdose of {pills}; {he} wants to die.",
        "Pt took approximately {count} {pills} in a suicide attempt per note found by {finder}. Pt alert, nauseated.",
        "{age} y/o {sex} states {he} swallowed a bottle of {pills} because {he} wanted to die. Pt tearful, states {he} regrets it now.",
        "Pt intentionally overdosed on {pills} after an argument with partner, states {he} wanted to end {his} life.",
        "{finder} found empty bottle of {pills}, pt admits taking all of them to kill {him}self. Pt drowsy, GCS 13.",
    ],
    "recreational_addon": [
        "Pt also admits using {drug} earlier tonight.",
        "Pt uses {drug} daily per {finder}.",
    ],
    "psych": [
        "Pt hearing voices telling {him} that people are following {him}. Pt paranoid, hx schizophrenia, off meds x 2 weeks. Pt agreeable to transport for psych eval.",
        "Pt having a panic attack, hyperventilating, states {he} feels like {he} is losing control. Coached breathing.",
        "Family called for {sex} with bizarre behavior, pt undressing in front yard and yelling. Pt manic, pressured speech. Known bipolar.",
        "Pt brought to mental health crisis center by PD on emergency petition for psychotic behavior. Pt calm now.",
        "Pt severely depressed, crying, not eating for days, states {he} feels hopeless. No plan to harm self.",
    ],
    "neg_substance_addon": [
        "Pt denies drug or alcohol use.",
        "Pt denies any ETOH or drug use today.",
        "No signs of drug use noted.",
    ],
    "si": [
        "Pt told {finder} {he} was going to shoot {him}self with a rifle kept in the closet.",
        "{age} y/o {sex} threatening to stab {him}self, knife secured by PD.",
        "Pt states {he} wants to kill {him}self and has a plan to use a gun. PD on scene for safety.",
        "Pt called crisis line stating {he} is suicidal. On arrival pt tearful, endorses SI with plan to overdose.",
        "{age} y/o {sex} with suicidal ideation after breakup, states {he} wants to end it all.",
        "Pt texted {finder} goodbye messages, pt admits to thoughts of suicide.",
    ],
    "attempt": [
        "Pt with self inflicted lacerations to bilateral wrists, states {he} tried to kill {him}self. Bleeding controlled.",
        "Pt found by {finder} attempting to hang {him}self with a belt, cut down prior to arrival. Red mark to neck, A&O x4.",
        "Pt cut {his} forearm with a razor in a suicide attempt, superficial lacs, bleeding controlled.",
    ],
    "alcohol_addon": [
        "Pt admits drinking {alc} tonight.",
        "Strong odor of {alc}, pt states {he} has been drinking all day.",
    ],
    "fatal_suicide": [
        "{finder} found pt hanging in garage, cut down prior to arrival. Pt pulseless, apneic, rigor present. Obvious death, suicide note found.",
        "Pt with self inflicted gunshot wound to head, injuries incompatible with life. Pronounced at scene.",
        "Pt jumped from parking structure in a suicide attempt per witnesses. Pulseless, CPR initiated, no ROSC, pronounced.",
    ],
    "neg_addon": [
        "Pt denies drug or alcohol use.",
        "No signs of overdose.",
        "Denies SI/HI.",
        "Pt denies any illicit drug use, no ETOH.",
        "No drug paraphernalia on scene.",
    ],
    "hist_addon": [
        "Pt has hx of {drug} use, clean for 5 years.",
        "PMH: depression, anxiety, HTN.",
        "History of overdose in 2019 per pt, none since.",
        "Hx of suicide attempt years ago, no current SI.",
    ],
    "third_addon": [
        "Pt states {his} {other} overdosed on {drug} last year.",
        "Pt's {other} is an alcoholic and lives with pt.",
        "Pt upset because {his} {other} is using {drug} again.",
        "Pt's {other} died of an overdose last month.",
    ],
    "hypo": [
        "Diabetic pt found altered by {finder}, BGL {gluc}. {nal} {dose} mg given for unknown AMS with no change. D10 IV with pt becoming alert and oriented.",
        "Pt unresponsive, BGL {gluc}. Glucagon 1 mg IM, pt improved. {nal} not given, no indication of opioid use.",
        "AMS, insulin dependent diabetic, sugar {gluc}. {nal} given without effect, D50 with rapid improvement.",
    ],
    "nal_other": [
        "Pt found altered with slurred speech and right sided weakness. {nal} given with no response. Stroke alert called.",
        "Pt postictal after seizure, slow to respond. {nal} administered without change, pt gradually improved over 20 minutes.",
        "Unresponsive pt, {nal} {dose} mg {route} with no improvement. Pt ultimately found to have a large head bleed.",
    ],
    "peds": [
        "{age} y/o child chewed up some of {pills} while grandparent napped, child acting normal.",
        "Mother states child swallowed {pills} from the counter, unknown how many.",
        "{age} y/o toddler got into {pills}, mother unsure how many were taken. Child alert and playful on arrival. Poison control contacted.",
        "Child found with open bottle of {pills}, possible ingestion of several tablets. Transported for evaluation.",
    ],
    "alcohol_si": [
        "Pt intoxicated on {alc} and stating {he} wants to kill {him}self. PD on scene.",
        "Pt drinking {alc} all day, told {finder} {he} would end {his} life tonight. Endorses SI.",
    ],
    "psych_dispatch_medical": [
        "Dispatched for psychiatric problem, on arrival found",
        "Called for abnormal behavior; crew found",
    ],
    "linked_run": [
        "Pt revived by PD prior to arrival. Pt A&O x4, refuses all care and transport.",
        "See CAD notes. Pt awake on our arrival and refusing evaluation, signed refusal.",
    ],
    "lone_sign_bh": [
        "Pt paranoid, states {his} wife has been poisoning {him} for months, hx schizophrenia.",
        "Pt believes the water supply is poisoned and refuses to drink, hearing voices.",
    ],
    "lone_sign_none": [
        "Pt with vomiting and diarrhea after eating leftover seafood, worried about poisoning. Vitals stable.",
        "Pt found unresponsive by {finder} after a fall from standing, GCS 7, blown right pupil.",
        "Pt unresponsive, BGL {gluc}, D10 given with pt waking up. No ingestion suspected.",
    ],
    "bh_hypo": ["Pt combative and yelling at family, diaphoretic, BGL {gluc}. D10 given, pt back to baseline and apologetic."],
    "bh_delirium": ["Nursing home staff report pt agitated and hallucinating since yesterday, fever, foul urine. Suspect UTI delirium."],
    "bh_postictal": ["Pt postictal and combative after witnessed seizure, gradually calming, hx epilepsy."],
    "bh_head": ["Pt combative and confused after striking head on pavement, GCS 13, repetitive questioning."],
    "bh_dementia": ["Dementia pt sundowning, agitated and wandering, family unable to redirect."],
    "cancelled": [
        "Cancelled en route by PD, no patient contact.",
        "Unable to locate patient, cleared scene.",
    ],
    "d_opioid": [
        "CALLER STATES FRIEND USED {drug} AND IS NOT BREATHING, CALLER HAS {nal}",
        "MALE UNCONSCIOUS IN CAR, POSS {drug} OD, BYSTANDER GAVE {nal}",
        "RP ADV SON OD ON {drug}, TURNING BLUE",
        "PD ON SCENE ADMIN {nal} X2 TO SUBJ, POSS {drug} OVERDOSE",
        "MALE BLUE AND UNRESPONSIVE ON FLOOR, HX {drug} ABUSE PER WIFE",
        "FEMALE NOT RESPONDING, HX OF {drug} USE, CALLER DOING CPR",
    ],
    "d_od_party": [
        "CALLER STATES FRIEND TOOK TOO MUCH {drug} AT PARTY, SEIZING",
        "POSS OVERDOSE, SUBJ USED {drug}, HEART RACING",
    ],
    "d_intentional": [
        "CALLER STATES SISTER TOOK A BOTTLE OF {pills} TO KILL HERSELF",
        "SUBJ INGESTED {pills} INTENTIONALLY, STATES WANTS TO DIE",
    ],
    "d_suicide": [
        "MALE THREATENING SUICIDE WITH KNIFE, RP IS MOTHER",
        "CALLER STATES SHE IS SUICIDAL AND HAS PILLS IN HAND",
        "SUBJ ON BRIDGE THREATENING TO JUMP",
    ],
    "d_psych": [
        "FEMALE SCREAMING AT PEOPLE IN LOBBY, HX BIPOLAR, OFF MEDS",
        "RP STATES SON IS HALLUCINATING AND PARANOID, NO WEAPONS",
        "SUBJ TALKING TO HIMSELF AND THROWING ITEMS, HX SCHIZOPHRENIA",
    ],
    "d_intox": [
        "INTOXICATED MALE PASSED OUT IN DOORWAY, {alc}",
        "DRUNK SUBJ FELL, UNABLE TO WALK, {alc} INVOLVED",
    ],
    "d_welfare_si": [
        "RP WORRIED ABOUT ROOMMATE WHO POSTED SUICIDAL MESSAGES ONLINE",
        "CALLER STATES EX SENT TEXTS SAYING HE WANTS TO END HIS LIFE",
    ],
    "d_welfare_none": [
        "ELDERLY NEIGHBOR NOT SEEN IN 2 DAYS, MAIL PILING UP",
        "RP REQ CHECK ON MOTHER, NOT ANSWERING PHONE",
    ],
    "d_unc_needle": [
        "MALE UNRESPONSIVE IN RESTROOM, NEEDLE NEXT TO HIM",
        "SUBJ SLUMPED OVER IN PARK, SYRINGE IN HAND, BREATHING SLOW",
    ],
    "d_drugs_police": [
        "SUBJS SELLING NARCOTICS ON CORNER, NO MEDICAL",
        "RP REPORTS DRUG ACTIVITY AT VACANT HOUSE",
    ],
    "d_medical_neg": [
        "ELDERLY FEMALE FELL, HIP PAIN, NO DRUGS OR ETOH INVOLVED",
        "MALE CHEST PAIN, CONSCIOUS AND BREATHING, DENIES DRUG USE",
        "SUBJ DIFF BREATHING, NO OVERDOSE PER CALLER",
    ],
    "d_child": [
        "TODDLER GOT INTO {pills}, POISON CONTROL ON LINE",
        "CHILD MAY HAVE INGESTED {pills}, ALERT",
    ],
    "d_third": [
        "CALLER C/O CHEST PAIN, STATES SON HAS HX OF OD",
        "FEMALE FELL, CALLER STATES HER BROTHER USES {drug}",
        "CALLER C/O HEADACHE, SAYS HER DAUGHTER IS USING {drug} AGAIN",
        "MALE WITH BACK PAIN, HIS ROOMMATE WAS ARRESTED FOR {drug}",
    ],
    "d_sparse": ["EMD COMPLETE, UNITS NOTIFIED", "PROQA CASE COMPLETED", "CALLER DISCONNECTED AFTER KEY QUESTIONS",
                 "SEE ATTACHED PROQA"],
    "d_rel_opioid": [
        "CALLER STATES {rel} SHOT UP {drug} AND IS NOT BREATHING",
        "{rel} FOUND BLUE IN BEDROOM AFTER USING {drug}, CALLER GIVING {nal}",
        "CALLER ADV {rel} OVERDOSED ON {drug}, GURGLING",
    ],
    "d_rel_suicide": [
        "CALLER STATES {rel} IS THREATENING TO KILL HIMSELF WITH A GUN",
        "{rel} LOCKED IN BATHROOM SAYING SHE WANTS TO DIE",
    ],
    "d_rel_psych": [
        "CALLER STATES {rel} IS HEARING VOICES AND BREAKING THINGS",
        "{rel} IN PSYCHIATRIC CRISIS, RP REQUESTING CRISIS TEAM",
    ],
    "d_rel_intox": [
        "{rel} TOO DRUNK TO STAND, FELL IN KITCHEN",
        "CALLER STATES {rel} HAS BEEN DRINKING {alc} ALL DAY AND IS VOMITING",
    ],
    "d_le": [
        "K9 ALERT ON VEHICLE, {drug} FOUND IN CONSOLE, 1 IN CUSTODY",
        "SEARCH WARRANT SERVICE, SUSPECTED {drug} IN RESIDENCE",
        "SUBJ ARRESTED FOR POSSESSION OF {drug}, TRANSPORTED TO JAIL",
        "ANON TIP RE {drug} SALES FROM APARTMENT 3",
    ],
    "d_le_overdose": [
        "SUBJ ARRESTED FOR POSSESSION OF {drug}, NOW UNRESPONSIVE IN CRUISER, DEPUTY GAVE {nal}, SUBJ WOKE UP",
    ],
}

BANK = {"name": "tuning", "words": WORDS, "codes": CODES, "phr": PHR}
