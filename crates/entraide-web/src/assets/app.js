// The entraide web interface: plain JavaScript, no build step, nothing
// loaded from outside the node. Every call goes to this node's own API
// (/api/...), which the node answers with the same JSON as its command line.
"use strict";

const T = {
  fr: {
    "nav.home": "Accueil", "nav.calendar": "Calendrier", "nav.charter": "Charte",
    "nav.library": "Bibliothèque", "nav.values": "Valeurs", "nav.members": "Membres",
    "online": "En ligne : {n} membre(s) joignable(s)", "offline": "Hors ligne : vos changements partiront dès qu'un membre sera joignable",
    "node.down": "Le nœud ne répond pas : est-ce que « entraide serve » tourne encore ?",
    "login": "Vous n'êtes pas connecté·e sur ce navigateur. Demandez un lien de connexion à un·e collègue (page Membres, « Lien de connexion ») ou à la personne qui a installé le nœud.",
    "login.short": "Pas connecté·e",
    "home.title": "Accueil", "home.org": "Cette organisation", "home.alliance": "Alliance",
    "home.noalliance": "Pas encore d'alliance", "home.members": "Membres", "home.peers": "Appareils des membres",
    "home.attention": "À traiter", "home.nothing": "Rien à traiter.", "home.lastsync": "dernière synchro : {t}",
    "never": "jamais", "connected": "en ligne", "disconnected": "hors ligne",
    "home.conflict": "Réservation perdue : {r}, {from} → {to}", "home.pendingorg": "Admission en attente : {org}",
    "home.pendingbooking": "Réservation à approuver : {r}, {from} ({org})", "home.proposal": "Proposition ouverte : {t}",
    "home.sync": "Synchroniser maintenant", "home.synced": "Synchronisé avec {n} appareil(s)",
    "cal.title": "Calendrier", "cal.resource": "Ressource", "cal.prev": "← Semaine précédente", "cal.next": "Semaine suivante →",
    "cal.today": "Cette semaine", "cal.noresource": "Aucune ressource partagée pour l'instant.",
    "cal.book": "Réserver", "cal.purpose": "Objet", "cal.from": "Début", "cal.to": "Fin", "cal.cancel": "Annuler",
    "cal.close": "Fermer", "cal.approve": "Approuver", "cal.decline": "Refuser", "cal.booked": "Réservé.",
    "cal.quota": "Quota de {org} : {used} h sur {quota} h ({from} → {to})", "cal.conflicts": "Conflits",
    "cal.suggest": "Créneaux libres proposés :", "cal.owner": "Propriétaire : {org}",
    "cal.days": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    "cal.cancelbooking": "Annuler cette réservation", "cal.approval": "Réservations soumises à approbation",
    "cal.repeat": "Répéter", "cal.repeat.none": "non", "cal.repeat.daily": "chaque jour", "cal.repeat.weekly": "chaque semaine",
    "cal.count": "Nombre de fois", "cal.cancelseries": "Annuler toute la série",
    "cal.skipped": "{n} réservation(s) faite(s) ; pas libre, donc sautée(s) : {s}",
    "reason.overlap": "chevauche une réservation faite avant", "reason.quota": "dépasse le quota",
    "status.pending": "en attente", "status.conflict": "conflit", "status.confirmed": "confirmée", "status.cancelled": "annulée",
    "ch.title": "Charte", "ch.saved": "Enregistré, partagé avec les membres", "ch.saving": "Envoi…",
    "ch.merged": "Modifications d'un membre reçues", "ch.history": "Historique", "ch.adopted": "Version adoptée",
    "ch.noadopted": "Aucune version adoptée pour l'instant.",
    "ch.edits": "{n} modification(s)", "ch.adoptedby": "adoptée par la décision {p}",
    "lib.title": "Bibliothèque", "lib.drop": "Déposez un fichier ici, ou choisissez-le :", "lib.titlef": "Titre",
    "lib.kind": "Type", "lib.tags": "Étiquettes (séparées par des virgules)", "lib.upload": "Ajouter à la bibliothèque",
    "lib.search": "Rechercher", "lib.here": "sur ce poste", "lib.notyet": "pas encore reçu ({p} %)",
    "lib.download": "Télécharger", "lib.added": "Ajouté à la bibliothèque.", "lib.nofile": "Choisissez d'abord un fichier.",
    "lib.empty": "La bibliothèque est vide.",
    "val.title": "Valeurs", "val.name": "Nom", "val.desc": "Description", "val.add": "Ajouter", "val.endorse": "Soutenir",
    "val.endorsedby": "Soutenue par : {orgs}", "val.withdraw": "Retirer notre soutien", "val.earlier": "Soutenue dans une formulation antérieure par : {orgs}", "val.empty": "Aucune valeur pour l'instant.",
    "mem.title": "Membres", "mem.invite": "Inviter une organisation", "mem.ticket": "Ticket d'invitation (valable 7 jours, une seule fois) :",
    "mem.approve": "Approuver", "mem.remove": "Retirer", "mem.confirm": "Retirer {org} de l'alliance ? Tous les membres le verront.",
    "mem.reason": "Raison", "mem.yes": "Oui, retirer", "mem.no": "Non", "mem.waiting": "attend : {w}",
    "mem.role.coordinator": "coordination", "mem.role.member": "membre",
    "mem.status.active": "active", "mem.status.pending": "en attente", "mem.status.removed": "retirée",
    "mem.devices": "{n} appareil(s)",
    "nav.events": "Formations",
    "leave.title": "Quitter l'alliance", "leave.yes": "Oui, quitter l'alliance", "leave.done": "Votre organisation a quitté l'alliance.",
    "leave.what": "Vos {b} réservation(s) à venir seront annulées et vos {r} ressource(s) retirées : les réservations qu'en ont faites les autres membres seront refusées, avec votre raison.",
    "leave.stays": "Ce que vous avez écrit reste (charte, bibliothèque, décisions). Revenir plus tard demandera une nouvelle admission.",
    "res.add": "Partager une ressource", "res.name": "Nom", "res.kindlabel": "Type", "res.capacity": "Capacité", "res.location": "Lieu",
    "res.approval": "Les réservations attendent notre approbation", "res.added": "Ressource partagée.",
    "res.edit": "Modifier ou retirer « {r} »", "res.save": "Enregistrer", "res.changed": "Ressource modifiée.", "res.quota": "Quota", "res.hours": "Heures d'ouverture",
    "res.withdraw": "Retirer cette ressource", "res.withdrawwhy": "Retirer « {r} » ? Elle ne prendra plus de réservation, et les réservations à venir seront refusées avec votre raison.", "res.withdrawn": "Ressource retirée.",
    "res.hint.name": "Le nom que les membres voient dans le calendrier.", "res.hint.kind": "Sert à trier et à trouver les ressources.",
    "res.hint.capacity": "Combien de personnes elle accueille ; vide : rien n'est indiqué.", "res.hint.location": "Où la trouver : adresse, étage.",
    "res.hint.quota": "Heures que chaque organisation peut réserver par semaine (20h/week) ou par mois (6h/month) ; vide : sans limite. S'applique aux réservations faites ensuite.",
    "res.hint.hours": "Quand elle peut être réservée (Mo-Fr 08:00-18:00; Sa 09:00-12:00) ; vide : à toute heure.",
    "res.hint.approval": "Cochée, chaque nouvelle réservation attend que votre organisation l'approuve.",
    "cal.declinewhy": "Refuser la réservation de {org} ? Dites-lui pourquoi.", "cal.cancelsure": "Annuler votre réservation du {when} ?", "cal.cancelseriessure": "Annuler toutes les occurrences à venir de cette série ?",
    "ask.reason": "Raison", "ask.yes": "Oui",
    "res.kind.room": "salle", "res.kind.vehicle": "véhicule", "res.kind.equipment": "matériel", "res.kind.other": "autre",
    "mem.loginlink": "Lien de connexion pour un·e collègue", "mem.loginhelp": "Un lien valable une fois, 15 minutes, pour ouvrir ces pages dans un autre navigateur de cet ordinateur.", "nav.proposals": "Décisions",
    "prop.title": "Propositions ouvertes", "prop.none": "Aucune proposition ouverte.", "prop.new": "Nouvelle proposition",
    "prop.kindlabel": "Type", "prop.titlelabel": "Titre", "prop.textlabel": "Texte (pour un amendement : toute la charte proposée)",
    "prop.processlabel": "Mode de décision", "prop.deadlinelabel": "Échéance", "prop.default": "celui de l'alliance",
    "prop.open": "Ouvrir la proposition", "prop.opened": "Proposition ouverte.", "prop.voted": "Position enregistrée.",
    "prop.reason": "Raison (obligatoire pour un blocage ou un désaccord par consentement)", "prop.mine": "Notre position : {p}",
    "prop.deadline": "échéance {d}", "prop.log": "Registre des décisions", "prop.export": "Exporter le registre (Markdown)",
    "prop.nolog": "Aucune décision pour l'instant.",
    "prop.kind.general": "générale", "prop.kind.charter-amendment": "amendement de la charte", "prop.kind.admission": "admission",
    "prop.kind.removal": "retrait", "prop.kind.library-quota": "quota de bibliothèque",
    "prop.process.consent": "consentement", "prop.process.consensus": "consensus", "prop.process.majority": "majorité",
    "prop.status.passed": "Adoptée", "prop.status.rejected": "Rejetée", "prop.status.blocked": "Bloquée", "prop.status.expired": "Expirée",
    "pos.agree": "D'accord", "pos.abstain": "Abstention", "pos.disagree": "Pas d'accord", "pos.block": "Bloquer",
    "prof.title": "Notre profil", "prof.description": "Ce que nous faisons", "prof.contact": "Contact",
    "prof.offerslabel": "Nous offrons (séparé par des virgules)", "prof.needslabel": "Nous cherchons (séparé par des virgules)",
    "prof.save": "Enregistrer le profil", "prof.saved": "Profil enregistré.", "prof.offers": "offre : {l}", "prof.needs": "cherche : {l}",
    "ev.title": "Formations et événements", "ev.empty": "Aucune formation pour l'instant.",
    "ev.seats": "{c} place(s) confirmée(s) sur {n}", "ev.perorg": "au plus {n} par organisation", "ev.perorglabel": "Places max. par organisation",
    "ev.by": "Organisé par {org}", "ev.closed": "Inscriptions closes", "ev.room": "Salle réservée",
    "ev.register": "S'inscrire", "ev.update": "Changer l'inscription", "ev.cancel": "Annuler l'inscription",
    "ev.nseats": "Places", "ev.names": "Participant·es", "ev.close": "Clore les inscriptions", "ev.open": "Rouvrir les inscriptions",
    "ev.attendance": "Liste de présence (CSV)", "ev.add": "Proposer une formation", "ev.name": "Titre",
    "ev.resource": "Salle (facultatif)", "ev.none": "aucune", "ev.registered": "Inscription enregistrée.",
    "ev.confirmed": "confirmée", "ev.waiting": "en attente", "ev.after": "après la clôture",
    "prop.diff": "Ce qu'elle change dans la charte adoptée", "prop.nodiff": "Aucune différence avec la charte adoptée.", "prop.todo": "à voter",
    "prop.awaiting": "{n} proposition(s) attendent votre vote", "ch.changes": "Ce qui a changé",
    "cal.asked": "Demande envoyée : {org} doit encore l'approuver.", "cal.bookslot": "Réserver {when}",
    "day.title": "Toutes les ressources, {d}", "day.prev": "← Jour précédent", "day.next": "Jour suivant →", "day.week": "Semaine d'une ressource",
    "day.link": "Toutes les ressources, jour par jour", "day.free": "{r} libre, {when} : réserver", "day.hour": "Heure",
    "lib.entries": "Documents partagés", "lib.size": "Taille", "lib.by": "Ajouté par", "lib.where": "Sur ce nœud", "lib.file": "Fichier",
    "kind.procedure": "procédure", "kind.job-profile": "profil de fonction", "kind.regulation": "règlement", "kind.statute": "statuts", "kind.budget": "budget", "kind.template": "modèle", "kind.other": "autre",
    "err.library.duplicate": "Ce fichier est déjà dans la bibliothèque : « {title} ». Rien n'a été ajouté.",
    "mem.w.admit": "Admission", "mem.w.remove": "Retrait",
    "mem.w.consensus": "{what} : approuvée par {done} ; attend encore {missing} (consensus).",
    "mem.w.majority": "{what} : approuvée par {done} ({n} sur {need} nécessaires, majorité).",
    "mem.w.coordinator": "{what} : approuvée par {done} ; attend l'approbation d'un·e coordinateur·rice.",
    "mem.block": "Bloquer", "mem.blockwhy": "Bloquer la décision sur {org} ? Sous la règle du consensus, elle ne passera pas. Dites pourquoi à l'alliance.", "mem.blocked": "Bloqué.",
    "mem.rolefor": "Rôle de {org}", "mem.rolechanged": "Rôle changé.",
    "mem.approveremoval": "Approuver le retrait", "mem.inviterole": "Rôle de la nouvelle organisation",
    "dev.title": "Appareils de {org}", "dev.this": "cet appareil", "dev.revoke": "Révoquer", "dev.revokesure": "Révoquer cet appareil ? Perdu ou volé, il ne pourra plus rien écrire au nom de votre organisation.",
    "dev.revoked": "Appareil révoqué.", "dev.help": "Un deuxième ordinateur de votre organisation : créez un ticket ici et collez-le dans sa page d'installation.",
    "dev.invite": "Inviter un autre appareil", "dev.ticket": "Ticket pour votre autre appareil (valable un jour) :", "dev.qr": "Code QR du ticket",
    "charter.textlabel": "Texte du projet de charte", "lib.filelabel": "Fichier à partager",
    "ppl.title": "Collègues", "ppl.help": "Chaque personne de votre organisation a sa connexion : invitez-la par son nom, elle ouvre le lien une fois sur son ordinateur et reste connectée. Ses réservations et ses votes portent son nom sur ce nœud ; l'alliance voit votre organisation.",
    "ppl.name": "Nom", "ppl.invite": "Inviter", "ppl.link": "Lien de connexion de {name} (une fois, 15 minutes) :", "ppl.revoked": "révoqué·e", "ppl.since": "depuis {d}",
    "ppl.revoke": "Révoquer", "ppl.revokesure": "Révoquer {name} ? Son navigateur sera déconnecté tout de suite.",
    "setup.badge": "Installation", "setup.welcome": "Bienvenue", "setup.intro": "Ce nœud est neuf. Il gardera les documents de l'alliance sur cet ordinateur : commencez par nommer votre organisation.",
    "setup.org": "Votre organisation", "setup.orgname": "Nom", "setup.orghint": "Le nom que les autres membres verront, par ex. « Maison médicale du Midi ».", "setup.create": "Créer l'organisation",
    "setup.orgready": "{org} est prête. Rejoignez l'alliance qui vous a invitée, ou fondez-en une.", "setup.join": "Rejoindre une alliance",
    "setup.joinhint": "Collez le ticket qu'un membre vous a donné (page Membres, « Inviter »), ou lisez son code QR.", "setup.ticket": "Ticket d'invitation",
    "setup.joinbtn": "Rejoindre", "setup.scan": "Lire le code QR", "setup.nocamera": "La caméra n'est pas disponible : collez le ticket.",
    "setup.pending": "Demande envoyée ; l'alliance doit encore approuver votre admission ({w}).", "setup.wait": "Attendre l'approbation",
    "setup.found": "Fonder une alliance", "setup.foundhint": "Vous serez la première organisation membre, puis vous inviterez les autres.",
    "setup.alliancename": "Nom de l'alliance", "setup.rule": "Admission", "setup.rulehint": "Qui décide d'admettre une nouvelle organisation.",
    "setup.rule.consensus": "par consensus de tous les membres", "setup.rule.majority": "à la majorité des membres", "setup.rule.coordinator": "par un·e coordinateur·rice",
    "setup.foundbtn": "Fonder l'alliance", "setup.pendingnow": "votre admission", "setup.starting": "C'est fait : le nœud démarre…",
    // Refusals, by their stable code (the node's `code` and `fields`).
    "err.calendar.kind": "Type de ressource inconnu : « {0} ».", "err.calendar.quota_format": "« {0} » n'est pas un quota : écrivez par ex. 20h/week ou 6h/month.",
    "err.calendar.hours_format": "« {0} » ne sont pas des heures d'ouverture : écrivez par ex. « Mo-Fr 08:00-18:00; Sa 09:00-12:00 ».",
    "err.calendar.outside_hours": "{resource} est ouvert {hours} : réservez pendant ces heures.", "err.calendar.name": "Une ressource a besoin d'un nom de 1 à 200 caractères.",
    "err.calendar.duplicate_name": "Une ressource s'appelle déjà « {0} » : choisissez un autre nom.", "err.calendar.capacity": "La capacité doit être d'au moins 1.",
    "err.calendar.end_before_start": "La réservation finit ({to}) avant de commencer ({from}).", "err.calendar.too_short": "Cette réservation est trop courte.",
    "err.calendar.too_long": "Cette réservation est trop longue : réservez moins longtemps ou répétez-la.", "err.calendar.repeat_count": "Ce nombre de répétitions n'est pas permis.",
    "err.calendar.until_before_start": "La date de fin ({until}) est avant la première occurrence ({first}).", "err.calendar.until_too_far": "Jusqu'au {0}, cela fait trop d'occurrences : choisissez une date plus proche.",
    "err.calendar.series_clash": "Les {count} occurrences sont en conflit, rien n'a été réservé. La première : {first}",
    "err.calendar.overlap": "{resource} est déjà réservé par {org} de {from} à {to} : choisissez un autre créneau.",
    "err.calendar.quota": "Cela porterait {org} à {booked_minutes} minutes sur {resource} pour la {period} commençant {period_start}, au-delà de son quota de {quota} : réservez moins ou demandez au propriétaire.",
    "err.calendar.closed": "Cette réservation est déjà {1} : rien n'a changé.", "err.calendar.series_closed": "Toutes les occurrences de cette série sont déjà annulées ou refusées.",
    "err.calendar.not_pending": "Cette réservation n'attend pas d'approbation : rien n'a changé.",
    "err.lookup.not_found": "Aucun·e {what} ne correspond à « {query} ».", "err.lookup.ambiguous": "« {query} » correspond à {count} {what} : soyez plus précis·e.",
    "err.library.kind": "Type de document inconnu : « {0} ».", "err.library.title": "Un document a besoin d'un titre sans caractères de contrôle.", "err.library.tags": "Les étiquettes font 1 à 50 caractères chacune.",
    "err.values.name": "Une valeur a besoin d'un nom.", "err.values.description": "La description est trop longue : raccourcissez-la.",
    "err.values.duplicate": "La valeur « {0} » existe déjà : soutenez-la plutôt.", "err.values.not_proposer": "Seule l'organisation qui a proposé « {0} » peut en corriger la formulation.",
    "err.values.not_endorsed": "Votre organisation ne soutient pas « {0} ».",
    "err.event.title": "Un événement a besoin d'un titre.", "err.event.times": "Un événement doit finir après avoir commencé.", "err.event.seats": "Ce nombre de places n'est pas permis.",
    "err.event.per_org": "Les places par organisation vont de 1 au nombre de places ({0}).", "err.event.names": "La liste des participant·es est trop longue.",
    "err.event.over_per_org": "Cet événement permet au plus {0} place(s) par organisation.", "err.event.over_seats": "Cet événement a {0} place(s) en tout.",
    "err.event.closed": "Les inscriptions à « {0} » sont closes.", "err.event.past": "« {0} » est déjà terminé.", "err.event.not_registered": "Votre organisation n'est pas inscrite à « {0} ».",
    "err.event.not_organiser": "Seule l'organisation qui organise « {0} » peut clore ou rouvrir les inscriptions.",
    "err.ledger.amount": "« {0} » n'est pas un montant : écrivez par ex. 1500,00.", "err.ledger.not_positive": "Le montant doit être plus grand que zéro.",
    "err.ledger.currency": "« {0} » n'est pas une devise : trois majuscules, par ex. EUR.", "err.ledger.rate": "« {0} » n'est pas un taux : un pourcentage par an de 0 à 100.",
    "err.ledger.repay": "« {0} » n'est pas un échéancier : écrivez par ex. « 12 x monthly ».", "err.ledger.reason": "Une demande au fonds a besoin d'une raison.",
    "err.ledger.same_party": "Le payeur et le bénéficiaire doivent être différents.", "err.ledger.self_loan": "Une organisation ne peut pas se prêter à elle-même.",
    "err.ledger.not_payee": "Un paiement est inscrit par l'organisation qui l'a reçu.", "err.ledger.not_payer": "Seule l'organisation qui a payé ({0}) peut confirmer ce paiement.",
    "err.ledger.not_borrower": "Seule l'organisation emprunteuse peut accepter ce prêt.", "err.ledger.already_accepted": "Ce prêt est déjà accepté.",
    "err.ledger.not_coordinator": "Seul·e un·e coordinateur·rice inscrit ou confirme les paiements du fonds.",
    "err.profile.too_long": "Ce champ est trop long (au plus {max} caractères).", "err.profile.tag": "Étiquettes : 1 à 50 caractères chacune.", "err.profile.empty": "Rien à changer.",
    "err.time.format": "« {0} » n'est pas une heure.", "err.time.nonexistent": "{input} n'existe pas (changement d'heure) : choisissez une autre heure.",
    "err.no_alliance": "Ce nœud n'est pas encore dans une alliance.", "err.unavailable": "Le fichier « {file} » n'est pas encore arrivé sur ce nœud : synchronisez et réessayez.",
    "err.unreachable": "Aucun membre n'est joignable pour le moment.", "err.store": "Le nœud n'a pas pu lire ou écrire ses données : vérifiez l'espace disque.",
    "what.resource": "ressource", "what.booking": "réservation", "what.organisation": "organisation", "what.proposal": "proposition", "what.event": "événement",
    "what.library entry": "document", "what.value": "valeur", "what.group": "groupe", "what.loan": "prêt", "what.payment": "paiement", "what.device": "appareil",
    "period.week": "semaine", "period.month": "mois", "status.cancelled": "annulée", "status.declined": "refusée",
    "nav.groups": "Groupes", "grp.title": "Groupes de travail", "grp.find": "Chercher un groupe (nom, description)",
    "grp.none": "Aucun groupe pour l'instant.", "grp.create": "Créer un groupe", "grp.name": "Nom", "grp.desc": "Pour quoi faire",
    "grp.with": "Avec", "grp.created": "Groupe créé.", "grp.members": "Membres : {orgs}", "grp.member": "Votre organisation en fait partie",
    "grp.notmember": "Vous n'en faites pas partie : son contenu n'est visible que de ses membres.",
    "grp.add": "Ajouter", "grp.remove": "Retirer", "grp.leave": "Quitter le groupe", "grp.notes": "Notes du groupe",
    "grp.save": "Enregistrer les notes", "grp.saved": "Notes enregistrées.", "grp.library": "Bibliothèque du groupe",
    "grp.upload": "Ajouter au groupe", "grp.proposals": "Propositions du groupe", "grp.propose": "Proposer au groupe",
    "grp.nolib": "Rien sur l'étagère du groupe.", "grp.noprop": "Aucune proposition du groupe.",
    "nav.ledger": "Trésorerie", "prop.kind.fund": "fonds de solidarité", "prop.kind.fees": "cotisations",
    "led.title": "Trésorerie solidaire", "led.balances": "Soldes", "led.party": "Qui", "led.balance": "Solde (reçu − payé)",
    "led.owes": "Doit (échu, non payé)", "led.isowed": "Attend", "led.fund": "le fonds", "led.nomoney": "Aucun mouvement pour l'instant.",
    "led.fees": "Cotisations", "led.year": "Année", "led.tier": "Catégorie", "led.amount": "Montant", "led.paid": "Payé", "led.nofees": "Aucune cotisation décidée.",
    "led.fundtitle": "Fonds de solidarité", "led.ask": "Demander au fonds", "led.kind": "Type", "led.reason": "Pourquoi",
    "led.repay": "Remboursement (prêt)", "led.asked": "Demande ouverte : l'alliance va décider.",
    "led.kind.loan": "prêt à 0 %", "led.kind.guarantee": "garantie", "led.kind.grant": "subside", "led.kind.gift": "don d'urgence",
    "led.loans": "Prêts entre membres", "led.offer": "Proposer un prêt", "led.to": "À", "led.rate": "Taux annuel (%)",
    "led.schedule": "Échéancier", "led.accept": "Accepter ce prêt", "led.accepted": "accepté", "led.offered": "proposé, en attente d'acceptation",
    "led.noloans": "Aucun prêt pour l'instant.", "led.offered.ok": "Prêt proposé.", "led.accept.ok": "Prêt accepté : l'échéancier commence.",
    "led.payments": "Paiements", "led.record": "Enregistrer un paiement reçu", "led.from": "De", "led.for": "Pour",
    "led.note": "Note", "led.receiver": "Reçu par", "led.us": "nous", "led.recorded": "Paiement enregistré.",
    "led.confirm": "Confirmer notre paiement", "led.confirmed": "confirmé par le payeur", "led.unconfirmed": "non confirmé",
    "led.export": "Exporter tous les paiements (CSV)", "led.due": "échéance", "led.settled": "réglé", "led.open": "à payer",
    "led.status": "Décision : {s}", "led.nopayments": "Aucun paiement enregistré.", "led.visible": "Tous les membres de l'alliance voient ces montants.", "led.voting": "vote en cours", "led.book": "Livre", "led.alliance": "l'alliance", "led.visiblegroup": "Seuls les membres du groupe voient ces montants : {orgs}.",
  },
  en: {
    "nav.home": "Home", "nav.calendar": "Calendar", "nav.charter": "Charter",
    "nav.library": "Library", "nav.values": "Values", "nav.members": "Members",
    "online": "Online: {n} member device(s) reachable", "offline": "Offline: your changes will leave as soon as a member is reachable",
    "node.down": "The node does not answer: is `entraide serve` still running?",
    "login": "This browser is not logged in. Ask a colleague for a login link (Members page, \"Login link\") or whoever set up the node.",
    "login.short": "Not logged in",
    "home.title": "Home", "home.org": "This organisation", "home.alliance": "Alliance",
    "home.noalliance": "No alliance yet", "home.members": "Members", "home.peers": "Member devices",
    "home.attention": "Needs you", "home.nothing": "Nothing waits for you.", "home.lastsync": "last sync: {t}",
    "never": "never", "connected": "online", "disconnected": "offline",
    "home.conflict": "Booking lost: {r}, {from} → {to}", "home.pendingorg": "Admission waiting: {org}",
    "home.pendingbooking": "Booking to approve: {r}, {from} ({org})", "home.proposal": "Open proposal: {t}",
    "home.sync": "Sync now", "home.synced": "In sync with {n} device(s)",
    "cal.title": "Calendar", "cal.resource": "Resource", "cal.prev": "← Previous week", "cal.next": "Next week →",
    "cal.today": "This week", "cal.noresource": "No shared resource yet.",
    "cal.book": "Book", "cal.purpose": "Purpose", "cal.from": "From", "cal.to": "To", "cal.cancel": "Cancel",
    "cal.close": "Close", "cal.approve": "Approve", "cal.decline": "Decline", "cal.booked": "Booked.",
    "cal.quota": "{org}'s quota: {used} h of {quota} h ({from} → {to})", "cal.conflicts": "Conflicts",
    "cal.suggest": "Suggested free slots:", "cal.owner": "Owner: {org}",
    "cal.days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "cal.cancelbooking": "Cancel this booking", "cal.approval": "Bookings need approval",
    "cal.repeat": "Repeat", "cal.repeat.none": "no", "cal.repeat.daily": "every day", "cal.repeat.weekly": "every week",
    "cal.count": "Times", "cal.cancelseries": "Cancel the whole series",
    "cal.skipped": "{n} booking(s) made; not free, so skipped: {s}",
    "reason.overlap": "overlaps a booking made earlier", "reason.quota": "over the quota",
    "status.pending": "pending", "status.conflict": "conflict", "status.confirmed": "confirmed", "status.cancelled": "cancelled",
    "ch.title": "Charter", "ch.saved": "Saved, shared with the members", "ch.saving": "Sending…",
    "ch.merged": "A member's edits arrived", "ch.history": "History", "ch.adopted": "Adopted version",
    "ch.noadopted": "No adopted version yet.",
    "ch.edits": "{n} edit(s)", "ch.adoptedby": "adopted by decision {p}",
    "lib.title": "Library", "lib.drop": "Drop a file here, or choose it:", "lib.titlef": "Title",
    "lib.kind": "Kind", "lib.tags": "Tags (comma-separated)", "lib.upload": "Add to the library",
    "lib.search": "Search", "lib.here": "on this computer", "lib.notyet": "not here yet ({p} %)",
    "lib.download": "Download", "lib.added": "Added to the library.", "lib.nofile": "Choose a file first.",
    "lib.empty": "The library is empty.",
    "val.title": "Values", "val.name": "Name", "val.desc": "Description", "val.add": "Add", "val.endorse": "Endorse",
    "val.endorsedby": "Endorsed by: {orgs}", "val.withdraw": "Withdraw our endorsement", "val.earlier": "Endorsed in an earlier wording by: {orgs}", "val.empty": "No value yet.",
    "mem.title": "Members", "mem.invite": "Invite an organisation", "mem.ticket": "Invitation ticket (valid 7 days, once):",
    "mem.approve": "Approve", "mem.remove": "Remove", "mem.confirm": "Remove {org} from the alliance? Every member will see it.",
    "mem.reason": "Reason", "mem.yes": "Yes, remove", "mem.no": "No", "mem.waiting": "waits for: {w}",
    "mem.role.coordinator": "coordinator", "mem.role.member": "member",
    "mem.status.active": "active", "mem.status.pending": "pending", "mem.status.removed": "removed",
    "mem.devices": "{n} device(s)",
    "nav.events": "Trainings",
    "leave.title": "Leave the alliance", "leave.yes": "Yes, leave the alliance", "leave.done": "Your organisation left the alliance.",
    "leave.what": "Your {b} future booking(s) will be cancelled and your {r} resource(s) withdrawn: the bookings other members made of them will be declined, with your reason.",
    "leave.stays": "What you wrote stays (charter, library, decisions). Coming back later means being admitted again.",
    "res.add": "Share a resource", "res.name": "Name", "res.kindlabel": "Kind", "res.capacity": "Capacity", "res.location": "Location",
    "res.approval": "Bookings wait for our approval", "res.added": "Resource shared.",
    "res.edit": "Change or withdraw '{r}'", "res.save": "Save", "res.changed": "Resource changed.", "res.quota": "Quota", "res.hours": "Opening hours",
    "res.withdraw": "Withdraw this resource", "res.withdrawwhy": "Withdraw '{r}'? It will take no new booking, and its future bookings will be declined with your reason.", "res.withdrawn": "Resource withdrawn.",
    "res.hint.name": "The name members see in the calendar.", "res.hint.kind": "Used to sort and find resources.",
    "res.hint.capacity": "How many people it takes; empty: nothing is shown.", "res.hint.location": "Where to find it: address, floor.",
    "res.hint.quota": "Hours each organisation may book per week (20h/week) or month (6h/month); empty: no limit. Applies to bookings made afterwards.",
    "res.hint.hours": "When it may be booked (Mo-Fr 08:00-18:00; Sa 09:00-12:00); empty: at any time.",
    "res.hint.approval": "When ticked, each new booking waits for your organisation's approval.",
    "cal.declinewhy": "Decline {org}'s booking? Tell them why.", "cal.cancelsure": "Cancel your booking of {when}?", "cal.cancelseriessure": "Cancel every future occurrence of this series?",
    "ask.reason": "Reason", "ask.yes": "Yes",
    "res.kind.room": "room", "res.kind.vehicle": "vehicle", "res.kind.equipment": "equipment", "res.kind.other": "other",
    "mem.loginlink": "Login link for a colleague", "mem.loginhelp": "A link valid once, for 15 minutes, to open these pages in another browser on this computer.", "nav.proposals": "Decisions",
    "prop.title": "Open proposals", "prop.none": "No open proposal.", "prop.new": "New proposal",
    "prop.kindlabel": "Kind", "prop.titlelabel": "Title", "prop.textlabel": "Text (for an amendment: the whole proposed charter)",
    "prop.processlabel": "Decided by", "prop.deadlinelabel": "Deadline", "prop.default": "the alliance's",
    "prop.open": "Open the proposal", "prop.opened": "Proposal opened.", "prop.voted": "Position saved.",
    "prop.reason": "Reason (needed to block, or to disagree under consent)", "prop.mine": "Our position: {p}",
    "prop.deadline": "deadline {d}", "prop.log": "Decision log", "prop.export": "Export the log (Markdown)",
    "prop.nolog": "No decision yet.",
    "prop.kind.general": "general", "prop.kind.charter-amendment": "charter amendment", "prop.kind.admission": "admission",
    "prop.kind.removal": "removal", "prop.kind.library-quota": "library quota",
    "prop.process.consent": "consent", "prop.process.consensus": "consensus", "prop.process.majority": "majority",
    "prop.status.passed": "Passed", "prop.status.rejected": "Rejected", "prop.status.blocked": "Blocked", "prop.status.expired": "Expired",
    "pos.agree": "Agree", "pos.abstain": "Abstain", "pos.disagree": "Disagree", "pos.block": "Block",
    "prof.title": "Our profile", "prof.description": "What we do", "prof.contact": "Contact",
    "prof.offerslabel": "We offer (comma-separated)", "prof.needslabel": "We look for (comma-separated)",
    "prof.save": "Save the profile", "prof.saved": "Profile saved.", "prof.offers": "offers: {l}", "prof.needs": "looks for: {l}",
    "ev.title": "Trainings and events", "ev.empty": "No training yet.",
    "ev.seats": "{c} of {n} seat(s) confirmed", "ev.perorg": "at most {n} per organisation", "ev.perorglabel": "Most seats per organisation",
    "ev.by": "Organised by {org}", "ev.closed": "Registrations closed", "ev.room": "Room booked",
    "ev.register": "Register", "ev.update": "Change the registration", "ev.cancel": "Cancel the registration",
    "ev.nseats": "Seats", "ev.names": "Attendees", "ev.close": "Close registrations", "ev.open": "Open registrations again",
    "ev.attendance": "Attendance list (CSV)", "ev.add": "Offer a training", "ev.name": "Title",
    "ev.resource": "Room (optional)", "ev.none": "none", "ev.registered": "Registration saved.",
    "nav.groups": "Groups", "grp.title": "Working groups", "grp.find": "Find a group (name, description)",
    "grp.none": "No group yet.", "grp.create": "Create a group", "grp.name": "Name", "grp.desc": "What it is for",
    "grp.with": "With", "grp.created": "Group created.", "grp.members": "Members: {orgs}", "grp.member": "Your organisation belongs to it",
    "grp.notmember": "Your organisation is not a member: only its members see its content.",
    "grp.add": "Add", "grp.remove": "Remove", "grp.leave": "Leave the group", "grp.notes": "The group's notes",
    "grp.save": "Save the notes", "grp.saved": "Notes saved.", "grp.library": "The group's library",
    "grp.upload": "Add to the group", "grp.proposals": "The group's proposals", "grp.propose": "Propose to the group",
    "grp.nolib": "Nothing on the group's shelf.", "grp.noprop": "No proposal of the group.",
    "nav.ledger": "Money", "prop.kind.fund": "support fund", "prop.kind.fees": "fees",
    "led.title": "Solidarity ledger", "led.balances": "Balances", "led.party": "Who", "led.balance": "Balance (received − paid)",
    "led.owes": "Owes (due, unpaid)", "led.isowed": "Is owed", "led.fund": "the fund", "led.nomoney": "No money moved yet.",
    "led.fees": "Fees", "led.year": "Year", "led.tier": "Tier", "led.amount": "Amount", "led.paid": "Paid", "led.nofees": "No fees decided yet.",
    "led.fundtitle": "Support fund", "led.ask": "Ask the fund", "led.kind": "Kind", "led.reason": "Why",
    "led.repay": "Repayment (loan)", "led.asked": "Request opened: the alliance will decide.",
    "led.kind.loan": "loan at 0 %", "led.kind.guarantee": "guarantee", "led.kind.grant": "grant", "led.kind.gift": "emergency gift",
    "led.loans": "Loans between members", "led.offer": "Offer a loan", "led.to": "To", "led.rate": "Yearly rate (%)",
    "led.schedule": "Schedule", "led.accept": "Accept this loan", "led.accepted": "accepted", "led.offered": "offered, waiting for acceptance",
    "led.noloans": "No loan yet.", "led.offered.ok": "Loan offered.", "led.accept.ok": "Loan accepted: its schedule starts.",
    "led.payments": "Payments", "led.record": "Record a payment received", "led.from": "From", "led.for": "For",
    "led.note": "Note", "led.receiver": "Received by", "led.us": "us", "led.recorded": "Payment recorded.",
    "led.confirm": "Confirm our payment", "led.confirmed": "confirmed by the payer", "led.unconfirmed": "not confirmed",
    "led.export": "Export every payment (CSV)", "led.due": "due", "led.settled": "settled", "led.open": "to pay",
    "led.status": "Decision: {s}", "led.nopayments": "No payment recorded yet.", "led.visible": "Every member of the alliance sees these amounts.", "led.voting": "being voted", "led.book": "Book", "led.alliance": "the alliance's", "led.visiblegroup": "Only the group's members see these amounts: {orgs}.",
    "ev.confirmed": "confirmed", "ev.waiting": "waiting", "ev.after": "after closing",
    "prop.diff": "What it changes in the adopted charter", "prop.nodiff": "No difference with the adopted charter.", "prop.todo": "to vote",
    "prop.awaiting": "{n} proposal(s) await your vote", "ch.changes": "What changed",
    "cal.asked": "Request sent: {org} has yet to approve it.", "cal.bookslot": "Book {when}",
    "day.title": "Every resource, {d}", "day.prev": "← Previous day", "day.next": "Next day →", "day.week": "One resource's week",
    "day.link": "Every resource, day by day", "day.free": "{r} free, {when}: book", "day.hour": "Hour",
    "lib.entries": "Shared documents", "lib.size": "Size", "lib.by": "Added by", "lib.where": "On this node", "lib.file": "File",
    "kind.procedure": "procedure", "kind.job-profile": "job profile", "kind.regulation": "regulation", "kind.statute": "statutes", "kind.budget": "budget", "kind.template": "template", "kind.other": "other",
    "err.library.duplicate": "This file is already in the library: '{title}'. Nothing was added.",
    "mem.w.admit": "Admission", "mem.w.remove": "Removal",
    "mem.w.consensus": "{what}: approved by {done}; still waits for {missing} (consensus).",
    "mem.w.majority": "{what}: approved by {done} ({n} of the {need} needed, majority).",
    "mem.w.coordinator": "{what}: approved by {done}; waits for a coordinator's approval.",
    "mem.block": "Block", "mem.blockwhy": "Block the decision about {org}? Under consensus it will not pass. Tell the alliance why.", "mem.blocked": "Blocked.",
    "mem.rolefor": "Role of {org}", "mem.rolechanged": "Role changed.",
    "mem.approveremoval": "Approve the removal", "mem.inviterole": "Role of the new organisation",
    "dev.title": "Devices of {org}", "dev.this": "this device", "dev.revoke": "Revoke", "dev.revokesure": "Revoke this device? Lost or stolen, it will write nothing more in your organisation's name.",
    "dev.revoked": "Device revoked.", "dev.help": "A second computer of your organisation: make a ticket here and paste it into its set-up page.",
    "dev.invite": "Invite another device", "dev.ticket": "Ticket for your other device (valid one day):", "dev.qr": "QR code of the ticket",
    "charter.textlabel": "Text of the charter draft", "lib.filelabel": "File to share",
    "ppl.title": "Colleagues", "ppl.help": "Each person of your organisation has a login of their own: invite them by name, they open the link once on their computer and stay logged in. Their bookings and votes carry their name on this node; the alliance sees your organisation.",
    "ppl.name": "Name", "ppl.invite": "Invite", "ppl.link": "{name}'s login link (once, 15 minutes):", "ppl.revoked": "revoked", "ppl.since": "since {d}",
    "ppl.revoke": "Revoke", "ppl.revokesure": "Revoke {name}? Their browser is logged out at once.",
    "setup.badge": "Setting up", "setup.welcome": "Welcome", "setup.intro": "This node is new. It will keep the alliance's documents on this computer: start by naming your organisation.",
    "setup.org": "Your organisation", "setup.orgname": "Name", "setup.orghint": "The name other members will see, e.g. \"Maison médicale du Midi\".", "setup.create": "Create the organisation",
    "setup.orgready": "{org} is ready. Join the alliance that invited you, or found one.", "setup.join": "Join an alliance",
    "setup.joinhint": "Paste the ticket a member gave you (Members page, \"Invite\"), or read its QR code.", "setup.ticket": "Invitation ticket",
    "setup.joinbtn": "Join", "setup.scan": "Read the QR code", "setup.nocamera": "The camera is not available: paste the ticket.",
    "setup.pending": "Request sent; the alliance has yet to approve your admission ({w}).", "setup.wait": "Wait for the approval",
    "setup.found": "Found an alliance", "setup.foundhint": "You will be its first member organisation, then invite the others.",
    "setup.alliancename": "Alliance name", "setup.rule": "Admission", "setup.rulehint": "Who decides to admit a new organisation.",
    "setup.rule.consensus": "by consensus of every member", "setup.rule.majority": "by a majority of members", "setup.rule.coordinator": "by a coordinator",
    "setup.foundbtn": "Found the alliance", "setup.pendingnow": "your admission", "setup.starting": "Done: the node is starting…",
    "err.calendar.kind": "Unknown kind of resource: '{0}'.", "err.calendar.quota_format": "'{0}' is not a quota: write e.g. 20h/week or 6h/month.",
    "err.calendar.hours_format": "'{0}' are not opening hours: write e.g. \"Mo-Fr 08:00-18:00; Sa 09:00-12:00\".",
    "err.calendar.outside_hours": "{resource} is open {hours}: book within those hours.", "err.calendar.name": "A resource needs a name of 1 to 200 characters.",
    "err.calendar.duplicate_name": "A resource is already called '{0}': choose another name.", "err.calendar.capacity": "Capacity must be at least 1.",
    "err.calendar.end_before_start": "The booking ends ({to}) before it starts ({from}).", "err.calendar.too_short": "This booking is too short.",
    "err.calendar.too_long": "This booking is too long: book a shorter slot or repeat it.", "err.calendar.repeat_count": "That number of repetitions is not allowed.",
    "err.calendar.until_before_start": "The end date ({until}) is before the first occurrence ({first}).", "err.calendar.until_too_far": "Until {0} makes too many occurrences: choose an earlier date.",
    "err.calendar.series_clash": "All {count} occurrences clash, nothing was booked. The first: {first}",
    "err.calendar.overlap": "{resource} is already booked by {org} from {from} to {to}: pick another slot.",
    "err.calendar.quota": "This would bring {org} to {booked_minutes} minutes on {resource} in the {period} starting {period_start}, over its quota of {quota}: book less or ask the owner.",
    "err.calendar.closed": "This booking is already {1}: nothing changed.", "err.calendar.series_closed": "Every occurrence of this series is already cancelled or declined.",
    "err.calendar.not_pending": "This booking is not waiting for approval: nothing changed.",
    "err.lookup.not_found": "No {what} matches '{query}'.", "err.lookup.ambiguous": "'{query}' matches {count} {what}s: be more precise.",
    "err.library.kind": "Unknown kind of document: '{0}'.", "err.library.title": "A document needs a title without control characters.", "err.library.tags": "Tags are 1 to 50 characters each.",
    "err.values.name": "A value needs a name.", "err.values.description": "The description is too long: shorten it.",
    "err.values.duplicate": "The value '{0}' already exists: endorse it instead.", "err.values.not_proposer": "Only the organisation that proposed '{0}' may correct its wording.",
    "err.values.not_endorsed": "Your organisation does not endorse '{0}'.",
    "err.event.title": "An event needs a title.", "err.event.times": "An event must end after it starts.", "err.event.seats": "That number of seats is not allowed.",
    "err.event.per_org": "Seats per organisation go from 1 to the event's seats ({0}).", "err.event.names": "The list of attendees is too long.",
    "err.event.over_per_org": "This event lets each organisation register at most {0} seat(s).", "err.event.over_seats": "This event has {0} seat(s) in all.",
    "err.event.closed": "Registrations for '{0}' are closed.", "err.event.past": "'{0}' has already ended.", "err.event.not_registered": "Your organisation is not registered for '{0}'.",
    "err.event.not_organiser": "Only the organisation that organises '{0}' may close or open its registrations.",
    "err.ledger.amount": "'{0}' is not an amount: write e.g. 1500.00.", "err.ledger.not_positive": "The amount must be more than zero.",
    "err.ledger.currency": "'{0}' is not a currency: three capital letters, e.g. EUR.", "err.ledger.rate": "'{0}' is not a rate: a percentage per year from 0 to 100.",
    "err.ledger.repay": "'{0}' is not a repayment schedule: write e.g. \"12 x monthly\".", "err.ledger.reason": "A fund request needs a reason.",
    "err.ledger.same_party": "The payer and the payee must differ.", "err.ledger.self_loan": "An organisation cannot lend to itself.",
    "err.ledger.not_payee": "A payment is recorded by the organisation that received it.", "err.ledger.not_payer": "Only the organisation that paid ({0}) may confirm this payment.",
    "err.ledger.not_borrower": "Only the borrower may accept this loan.", "err.ledger.already_accepted": "This loan is already accepted.",
    "err.ledger.not_coordinator": "Only a coordinator records or confirms the fund's payments.",
    "err.profile.too_long": "This field is too long (at most {max} characters).", "err.profile.tag": "Tags: 1 to 50 characters each.", "err.profile.empty": "Nothing to change.",
    "err.time.format": "'{0}' is not a time.", "err.time.nonexistent": "{input} does not exist (the clocks change): pick another time.",
    "err.no_alliance": "This node is not in an alliance yet.", "err.unavailable": "The file '{file}' has not reached this node yet: sync and try again.",
    "err.unreachable": "No member can be reached right now.", "err.store": "The node could not read or write its data: check the disk space.",
    "period.week": "week", "period.month": "month", "status.cancelled": "cancelled", "status.declined": "declined",
  },
};

function pickLang() {
  const saved = localStorage.getItem("entraide.lang");
  if (saved === "fr" || saved === "en") return saved;
  const asked = navigator.languages || [navigator.language || ""];
  return asked.some((l) => String(l).toLowerCase().startsWith("fr")) ? "fr" : "en";
}
let lang = pickLang();

function t(key, vars) {
  let s = (T[lang] && T[lang][key]) ?? T.en[key] ?? key;
  if (vars && typeof s === "string") for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
  return s;
}

// Builds an element; strings become text nodes (never HTML).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

/** Replaces `el`'s children, skipping null/undefined/false (which the DOM
 * would otherwise print as text). */
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

function notice(text, ok) {
  const n = document.getElementById("notice");
  if (!text) { n.hidden = true; return; }
  n.textContent = text;
  n.className = ok ? "notice ok" : "notice";
  n.hidden = false;
  if (ok) setTimeout(() => { if (n.textContent === text) n.hidden = true; }, 3000);
}

class ApiError extends Error {}

async function api(method, path, body, raw) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (raw !== undefined) { opts.body = raw; opts.headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  let r;
  try { r = await fetch("/api" + path, opts); } catch (e) { setOnline(null); throw new ApiError(t("node.down")); }
  if (r.status === 401) { loggedOut = true; notice(t("login")); setOnline(status); throw new ApiError(t("login")); }
  loggedOut = false;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(data.error ? refusalText(data) : r.statusText);
  return data;
}

// A refusal in the reader's language, from the node's stable `code` and
// `fields`; the node's own (English) message for a code this page does not
// word.
function refusalText(data) {
  const key = "err." + data.code;
  if (!data.code || (T[lang][key] === undefined && T.en[key] === undefined)) return data.error;
  const f = data.fields;
  const named = f && typeof f === "object" && !Array.isArray(f) ? f : Array.isArray(f) ? { ...f } : { 0: f };
  const vars = {};
  for (const [k, v] of Object.entries(named)) vars[k] = fieldText(k, v);
  return t(key, vars);
}

function fieldText(name, v) {
  if (v && typeof v === "object" && v.code) return refusalText({ code: "calendar." + v.code, fields: v.fields, error: "" });
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return when(v);
  if (name === "period") return t("period." + v);
  if (name === "what") return t("what." + v) === "what." + v ? v : t("what." + v);
  if (name === "1" && (v === "cancelled" || v === "declined")) return t("status." + v);
  return v;
}

// How far a moment is, in the reader's language: "dans 3 jours".
function relative(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return iso || "";
  const mins = Math.round((d - new Date()) / 60000);
  const [n, unit] = Math.abs(mins) < 60 ? [mins, "minute"] : Math.abs(mins) < 48 * 60 ? [Math.round(mins / 60), "hour"] : [Math.round(mins / 1440), "day"];
  return new Intl.RelativeTimeFormat(lang === "fr" ? "fr-BE" : "en-GB", { numeric: "auto" }).format(n, unit) + " (" + when(iso) + ")";
}

// A diff that opens on demand, and stays open when the page is redrawn
// (a live update) as long as the page's state lives.
function diffBox(state, label, body) {
  const key = JSON.stringify(body);
  const open = (state.openDiffs || (state.openDiffs = new Set())).has(key);
  const box = h("details", { class: "diff-box", open }, h("summary", {}, label), h("div", {}));
  if (open) showDiff(box.lastChild, body);
  box.addEventListener("toggle", () => {
    if (box.open) { state.openDiffs.add(key); showDiff(box.lastChild, body); } else state.openDiffs.delete(key);
  });
  return box;
}

// The node's unified diff of two versions of the charter, lines marked.
async function showDiff(into, body) {
  try {
    const r = await api("POST", "/charter/diff", body);
    if (!r.changed) { fill(into, h("p", { class: "muted" }, t("prop.nodiff"))); return; }
    fill(into, h("pre", { class: "diff" }, r.diff.split("\n").filter((l) => !l.startsWith("---") && !l.startsWith("+++")).map((l) =>
      h("span", { class: l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : l.startsWith("@@") ? "hunk" : "" }, l + "\n"))));
  } catch (e) { fill(into, h("p", { class: "muted" }, e.message)); }
}

// The wall-clock time a node's time names, in the node's own zone (the
// zone the calendar's hours are drawn in), whatever the browser's zone.
function wall(iso) {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d))?/.exec(iso || "");
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0))) : new Date(NaN);
}

// A moment in the reader's language: "jeu. 3 déc., 14:00".
function when(iso) {
  const d = wall(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(lang === "fr" ? "fr-BE" : "en-GB",
    { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: d.getUTCFullYear() === new Date().getFullYear() ? undefined : "numeric", hour: "2-digit", minute: "2-digit" });
}

// Runs an action from a button: shows its refusal, never throws.
async function act(fn, okText) {
  try { await fn(); notice((typeof okText === "function" ? okText() : okText) || null, true); await refresh(); }
  catch (e) { notice(e.message); }
}

// Times as the reader reads them (see `when`): a whole moment, a day, an hour.
function short(time) { return time ? when(time) : t("never"); }
// A size as the reader writes it: "293 Ko", "1,2 Mo" / "293 KB".
function bytes(n) {
  const units = lang === "fr" ? ["o", "Ko", "Mo", "Go"] : ["B", "KB", "MB", "GB"];
  let i = 0, v = Number(n) || 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return v.toLocaleString(lang === "fr" ? "fr-BE" : "en-GB", { maximumFractionDigits: i && v < 10 ? 1 : 0 }) + " " + units[i];
}
function dayOf(iso) { const d = wall(iso); return isNaN(d) ? iso : d.toLocaleDateString(lang === "fr" ? "fr-BE" : "en-GB", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" }); }
function hourOf(iso) { const d = wall(iso); return isNaN(d) ? iso : d.toLocaleTimeString(lang === "fr" ? "fr-BE" : "en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit" }); }

let status = null;
// The node answered that this browser is not logged in: it runs.
let loggedOut = false;
function setOnline(st) {
  const b = document.getElementById("online");
  if (loggedOut) { b.textContent = t("login.short"); b.className = "badge offline"; return; }
  if (!st) { b.textContent = t("node.down"); b.className = "badge offline"; return; }
  if (st.setup) { b.textContent = t("setup.badge"); b.className = "badge"; document.getElementById("who").textContent = st.org || ""; return; }
  const n = (st.peers || []).filter((p) => p.connected).length;
  b.textContent = n > 0 ? t("online", { n }) : t("offline");
  b.className = n > 0 ? "badge online" : "badge offline";
  b.dataset.connected = String(n);
  document.getElementById("who").textContent = (me ? me.name + " · " : "") + st.org + (st.alliance ? " · " + st.alliance.name : "");
}

let me = undefined;
async function loadStatus() {
  try {
    status = await api("GET", "/status");
    if (me === undefined && !status.setup) me = (await api("GET", "/me").catch(() => ({}))).person || null;
    setOnline(status);
  } catch (e) { /* shown by api() */ }
  return status;
}

// ---- pages ---------------------------------------------------------------

const pages = {};

// Whether a page already shows exactly this data (then it is left alone, so
// a click in progress or a focused field is not disturbed).
function unchanged(page, ...data) {
  const key = JSON.stringify([lang, location.hash, status && status.org, data]);
  if (page.state.key === key) return true;
  page.state.key = key;
  return false;
}
let current = null;

function route() {
  const [page, ...args] = (location.hash.slice(1) || "home").split("/");
  const name = pages[page] ? page : "home";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.dataset.page === name || (name === "day" && a.dataset.page === "calendar"));
  if (current && current.name !== name && current.leave) current.leave();
  current = { name, args: args.map(decodeURIComponent), ...pages[name] };
  current.state = {};
  notice(null);
  document.getElementById("main").replaceChildren();
  refresh();
}

let refreshing = null;
async function refresh() {
  if (refreshing) { refreshing.again = true; return; }
  refreshing = { again: false };
  try {
    await loadStatus();
    document.querySelector("nav").hidden = !!(status && status.setup);
    if (status && !status.setup && status.alliance) countAwaiting();
    if (status && status.setup) await setupPage(document.getElementById("main"));
    else if (current) await current.render(document.getElementById("main"), current);
  } catch (e) { notice(e.message); }
  const again = refreshing.again;
  refreshing = null;
  if (again) refresh();
}

pages.home = {
  async render(main, page) {
    const [members, proposals, bookings, resources] = await Promise.all([
      api("GET", "/members"), api("GET", "/proposals").catch(() => []),
      api("GET", "/bookings").catch(() => []), api("GET", "/resources").catch(() => []),
    ]);
    if (unchanged(page, members, proposals, bookings, resources, status)) return;
    const st = status;
    const own = new Set(resources.filter((r) => r.owner === st.org).map((r) => r.id));
    const attention = [];
    for (const c of st.conflicts || []) attention.push(h("li", { class: "conflict" }, t("home.conflict", { r: c.resource_name || c.resource, from: short(c.from), to: short(c.to) })));
    for (const m of members.filter((m) => m.status === "pending")) attention.push(h("li", {}, t("home.pendingorg", { org: m.org }), " ", h("a", { href: "#members" }, "→")));
    for (const b of bookings.filter((b) => b.status === "pending" && own.has(b.resource))) attention.push(h("li", {}, t("home.pendingbooking", { r: b.resource_name, from: short(b.from), org: b.org }), " ", h("a", { href: "#calendar" }, "→")));
    for (const p of proposals.filter((p) => p.status === "open")) attention.push(h("li", {}, t("home.proposal", { t: p.title }), " ", h("a", { href: "#proposals" }, "→")));
    fill(main,
      h("h1", {}, t("home.title")),
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("h2", {}, t("home.org")), h("p", { id: "org-name" }, h("strong", {}, st.org)),
          h("p", { class: "muted" }, st.alliance ? t("home.alliance") + " : " + st.alliance.name : t("home.noalliance")),
          h("p", { class: "muted" }, t("home.members") + " : " + st.members)),
        h("div", { class: "card" }, h("h2", {}, t("home.attention")),
          attention.length ? h("ul", { id: "attention" }, attention) : h("p", { class: "muted" }, t("home.nothing")))),
      h("h2", {}, t("home.peers")),
      h("table", { id: "peers" },
        (st.peers || []).map((p) => h("tr", { class: p.connected ? "online" : "offline" },
          h("td", {}, p.org || "?"), h("td", {}, p.connected ? "● " + t("connected") : "○ " + t("disconnected")),
          h("td", { class: "muted" }, t("home.lastsync", { t: short(p.last_sync) }))))),
      h("p", {}, h("button", { onclick: () => act(async () => { const r = await api("POST", "/sync"); notice(t("home.synced", { n: r.synced_with.length }), true); }) }, t("home.sync"))),
    );
  },
};

// Dates as "YYYY-MM-DD", computed in UTC so daylight saving never shifts a day.
function ymd(d) { return d.toISOString().slice(0, 10); }
function addDays(day, n) { const d = new Date(day + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return ymd(d); }
function monday(day) { const d = new Date(day + "T00:00:00Z"); return addDays(day, -((d.getUTCDay() + 6) % 7)); }
function todayLocal() { const d = new Date(); return ymd(new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()))); }
function pad(n) { return String(n).padStart(2, "0"); }
const HOURS = Array.from({ length: 15 }, (_, i) => 7 + i);

pages.calendar = {
  async render(main, page) {
    const resources = await api("GET", "/resources");
    const [weekArg, resArg] = page.args;
    const week = monday(/^\d{4}-\d{2}-\d{2}$/.test(weekArg || "") ? weekArg : todayLocal());
    const res = resources.find((r) => r.id === resArg) || resources.find((r) => r.id === page.state.resource) || resources[0];
    if (!res) {
      if (!unchanged(page, resources)) fill(main, h("h1", {}, t("cal.title")), h("p", {}, t("cal.noresource")), resourceForm(true));
      return;
    }
    page.state.resource = res.id;
    const go = (w, r) => { location.hash = "#calendar/" + w + "/" + encodeURIComponent(r); };
    const bookings = await api("GET", "/bookings?resource=" + encodeURIComponent(res.id));
    if (unchanged(page, resources, bookings, week, res.id)) return;
    const mine = (b) => b.org === status.org;
    const owned = res.owner === status.org;
    const days = Array.from({ length: 7 }, (_, i) => addDays(week, i));
    const live = bookings.filter((b) => b.status !== "cancelled" && !b.declined);

    const bookingEl = (b) => h("div", {
      class: "booking " + b.status + (mine(b) ? " own" : ""), "data-booking": b.id, title: b.org + " · " + short(b.from) + " → " + short(b.to) + " · " + t("status." + b.status),
    }, b.purpose || b.org, " ", h("span", { class: "muted" }, "(" + b.org + (b.by ? ", " + b.by : "") + ")"),
      owned && b.status === "pending" ? [" ", h("button", { class: "approve", onclick: (e) => { e.stopPropagation(); act(() => api("POST", "/bookings/" + b.id + "/approve")); } }, t("cal.approve")),
        h("button", { class: "decline", onclick: (e) => { e.stopPropagation(); ask("decline", t("cal.declinewhy", { org: b.org }), true, (reason) => act(() => api("POST", "/bookings/" + b.id + "/decline", { reason }))); } }, t("cal.decline"))] : null);

    const rows = HOURS.map((hr) => h("tr", {},
      h("td", { class: "hour" }, pad(hr) + ":00"),
      days.map((day) => {
        const from = day + "T" + pad(hr) + ":00", to = day + "T" + pad(hr + 1) + ":00";
        const here = live.filter((b) => b.from.slice(0, 16) < to && b.to.slice(0, 16) > from);
        const starts = here.filter((b) => b.from.slice(0, 16) >= from || hr === HOURS[0]);
        // A slot already begun cannot be booked from the page.
        const past = new Date(from) < new Date();
        const cell = h("td", { class: "slot" + (here.length ? " taken" : "") + (past && !here.length ? " past" : ""), "data-slot": from },
          starts.map(bookingEl), here.length && !starts.length ? h("div", { class: "booking cont " + here[0].status + (mine(here[0]) ? " own" : "") }, "⋮") : null);
        if (!here.length && !past) {
          // Free hours take the keyboard's focus: Enter or Space books.
          cell.tabIndex = 0;
          cell.setAttribute("role", "button");
          cell.setAttribute("aria-label", t("cal.bookslot", { when: when(from) }));
          cell.addEventListener("click", () => openBooking(res, from, to));
          cell.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openBooking(res, from, to); } });
        }
        return cell;
      })));

    const usage = h("div", { id: "quota" }, (res.usage || []).filter((u) => u.org === status.org).map((u) =>
      h("p", {}, t("cal.quota", { org: u.org, used: (u.minutes / 60).toFixed(1), quota: (u.quota_minutes / 60).toFixed(0), from: dayOf(u.period_start), to: dayOf(u.period_end) }))));
    const conflicts = bookings.filter((b) => b.status === "conflict" && mine(b));

    fill(main,
      h("h1", {}, t("cal.title")),
      h("div", { class: "row" },
        h("label", {}, t("cal.resource") + " ",
          h("select", { id: "resource", onchange: (e) => go(week, e.target.value) },
            resources.map((r) => h("option", { value: r.id, selected: r.id === res.id }, r.name + " (" + t("res.kind." + r.kind) + ")")))),
        h("button", { id: "prev-week", onclick: () => go(addDays(week, -7), res.id) }, t("cal.prev")),
        h("button", { onclick: () => go(monday(todayLocal()), res.id) }, t("cal.today")),
        h("button", { id: "next-week", onclick: () => go(addDays(week, 7), res.id) }, t("cal.next")),
        h("a", { id: "day-view", href: "#day/" + (todayLocal() >= week && todayLocal() < addDays(week, 7) ? todayLocal() : week) }, t("day.link"))),
      h("p", { class: "muted" }, t("cal.owner", { org: res.owner }), res.approval ? " · " + t("cal.approval") : "", res.hours ? " · " + res.hours : ""),
      usage,
      conflicts.length ? h("div", { class: "card conflicts" }, h("h2", {}, t("cal.conflicts")), h("ul", { id: "conflicts" }, conflicts.map((b) => h("li", {},
        (b.purpose || "") + " " + short(b.from) + " → " + short(b.to) + " (" + t("reason." + b.reason) + ") ",
        h("div", {}, t("cal.suggest"), " ", (b.suggestions || []).map((s) => h("button", {
          class: "suggestion", onclick: () => act(async () => {
            await api("POST", "/bookings", { resource: res.id, from: s.from, to: s.to, purpose: b.purpose });
            await api("POST", "/bookings/" + b.id + "/cancel");
          }, t("cal.booked")),
        }, short(s.from) + " → " + hourOf(s.to)))))))) : null,
      h("table", { class: "week", id: "week", "data-week": week },
        h("tr", {}, h("th", {}, ""), days.map((d, i) => h("th", {}, t("cal.days")[i] + " " + d.slice(8, 10) + "/" + d.slice(5, 7)))),
        rows),
      h("ul", { id: "own-bookings" }, bookings.filter((b) => mine(b) && (b.status !== "cancelled" || b.declined) && b.from.slice(0, 10) >= week && b.from.slice(0, 10) < addDays(week, 7)).map((b) => b.declined ?
        h("li", { "data-booking": b.id, class: "declined" }, when(b.from) + " " + (b.purpose || "") + " · " + t("status.declined") + (b.reason ? " : " + b.reason : "")) :
        h("li", { "data-booking": b.id }, short(b.from) + " → " + hourOf(b.to) + " " + (b.purpose || "") + " · " + t("status." + b.status) + " ",
          h("button", { class: "danger cancel-one", onclick: () => ask("cancel", t("cal.cancelsure", { when: when(b.from) }), false, () => act(() => api("POST", "/bookings/" + b.id + "/cancel"))) }, t("cal.cancelbooking")),
          b.series ? h("button", { class: "danger cancel-series", onclick: () => ask("cancel", t("cal.cancelseriessure"), false, () => act(() => api("POST", "/bookings/" + b.id + "/cancel?series=true"))) }, t("cal.cancelseries")) : null))),
      owned ? resourceForm(false, res) : null,
      resourceForm(),
    );
  },
};

// One day, every resource side by side: which room is free on Thursday
// afternoon? Free hours book that resource in one click (or Enter).
pages.day = {
  async render(main, page) {
    const day = /^\d{4}-\d{2}-\d{2}$/.test(page.args[0] || "") ? page.args[0] : todayLocal();
    const next = addDays(day, 1);
    const [resources, bookings] = await Promise.all([api("GET", "/resources"),
      api("GET", "/bookings?from=" + day + "T00:00&to=" + next + "T00:00")]);
    if (unchanged(page, resources, bookings, day)) return;
    const live = bookings.filter((b) => b.status !== "cancelled" && !b.declined);
    const go = (d) => { location.hash = "#day/" + d; };
    const rows = HOURS.map((hr) => h("tr", {},
      h("th", { scope: "row", class: "hour" }, pad(hr) + ":00"),
      resources.map((res) => {
        const from = day + "T" + pad(hr) + ":00", to = day + "T" + pad(hr + 1) + ":00";
        const here = live.filter((b) => b.resource === res.id && b.from.slice(0, 16) < to && b.to.slice(0, 16) > from);
        const past = new Date(from) < new Date();
        const cell = h("td", { class: "slot" + (here.length ? " taken" : past ? " past" : " free"), "data-slot": from, "data-resource": res.id },
          here.map((b) => h("div", { class: "booking " + b.status + (b.org === status.org ? " own" : "") }, (b.purpose || b.org) + " (" + b.org + ")")));
        if (!here.length && !past) {
          cell.tabIndex = 0;
          cell.setAttribute("role", "button");
          cell.setAttribute("aria-label", t("day.free", { r: res.name, when: when(from) }));
          cell.addEventListener("click", () => openBooking(res, from, to));
          cell.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openBooking(res, from, to); } });
        }
        return cell;
      })));
    fill(main, h("h1", {}, t("day.title", { d: new Date(day + "T12:00:00").toLocaleDateString(lang === "fr" ? "fr-BE" : "en-GB", { weekday: "long", day: "numeric", month: "long", year: "numeric" }) })),
      h("div", { class: "row" },
        h("button", { id: "prev-day", onclick: () => go(addDays(day, -1)) }, t("day.prev")),
        h("button", { onclick: () => go(todayLocal()) }, t("cal.today")),
        h("button", { id: "next-day", onclick: () => go(next) }, t("day.next")),
        h("a", { href: "#calendar/" + day }, t("day.week"))),
      resources.length ? h("table", { class: "week day", id: "day" },
        h("tr", {}, h("th", {}, h("span", { class: "sr" }, t("day.hour"))), resources.map((r) => h("th", { scope: "col" }, r.name, h("br"), h("span", { class: "muted" }, t("res.kind." + r.kind))))),
        rows) : h("p", {}, t("cal.noresource")));
  },
};

// Sharing a resource of one's own organisation, or (with `res`, one it
// owns) changing or withdrawing it. Each field says what it does.
function resourceForm(open, res) {
  const id = (k) => (res ? "edit-" : "res-") + k;
  const name = h("input", { id: id("name"), type: "text", size: 24, value: res ? res.name : null });
  const kind = h("select", { id: id("kind") }, ["room", "vehicle", "equipment", "other"].map((k) => h("option", { value: k, selected: res && res.kind === k }, t("res.kind." + k))));
  const capacity = h("input", { id: id("capacity"), type: "number", min: 1, size: 4, value: res ? res.capacity : null });
  const location = h("input", { id: id("location"), type: "text", size: 24, value: res ? res.location : null });
  const quota = h("input", { id: id("quota"), type: "text", size: 12, placeholder: "20h/week", value: res ? res.quota : null });
  const hours = h("input", { id: id("hours"), type: "text", size: 24, placeholder: "Mo-Fr 08:00-18:00", value: res ? res.hours : null });
  const approval = h("input", { id: id("approval"), type: "checkbox", checked: res ? res.approval : null });
  const field = (label, input, hint) => h("p", { class: "field" }, h("label", {}, t(label) + " ", input), " ", h("span", { class: "hint muted" }, t(hint)));
  const body = () => {
    const v = { name: name.value, kind: kind.value, capacity: capacity.value ? Number(capacity.value) : null,
      location: location.value || null, quota: quota.value || null, hours: hours.value || null, approval: approval.checked };
    if (!res) return v;
    // Emptied fields are removed; the others are sent as they are now.
    v.clear = ["capacity", "location", "quota", "hours"].filter((k) => v[k] === null && res[k] !== null && res[k] !== undefined);
    return v;
  };
  const save = res
    ? h("button", { class: "primary", id: "edit-save", onclick: () => act(() => api("PUT", "/resources/" + res.id, body()), t("res.changed")) }, t("res.save"))
    : h("button", { class: "primary", id: "res-save", onclick: () => act(() => api("POST", "/resources", body()), t("res.added")) }, t("res.add"));
  const withdraw = res ? h("button", { class: "danger", id: "res-withdraw", onclick: () => ask("withdraw", t("res.withdrawwhy", { r: res.name }), true,
    (reason) => act(() => api("POST", "/resources/" + res.id + "/withdraw", { reason }), t("res.withdrawn"))) }, t("res.withdraw")) : null;
  return h("details", { class: "card", id: res ? "resource-edit" : "resource-add", open: !!open },
    h("summary", {}, res ? t("res.edit", { r: res.name }) : t("res.add")),
    field("res.name", name, "res.hint.name"), field("res.kindlabel", kind, "res.hint.kind"),
    field("res.capacity", capacity, "res.hint.capacity"), field("res.location", location, "res.hint.location"),
    field("res.quota", quota, "res.hint.quota"), field("res.hours", hours, "res.hint.hours"),
    h("p", { class: "field" }, h("label", {}, approval, " " + t("res.approval")), " ", h("span", { class: "hint muted" }, t("res.hint.approval"))),
    h("div", { class: "row" }, save, withdraw));
}

// Asks before an action: a question, an optional reason (required when
// asked for), yes and no. `onYes` gets the reason.
function ask(id, question, withReason, onYes, yes) {
  const reason = withReason ? h("input", { id: id + "-reason", type: "text", size: 40, "aria-label": t("ask.reason") }) : null;
  const close = () => { dlg.close(); dlg.remove(); };
  const dlg = h("dialog", { id: id + "-dialog" }, h("p", {}, question),
    reason ? h("p", {}, h("label", {}, t("ask.reason") + " ", reason)) : null,
    h("div", { class: "row" },
      h("button", { class: "danger", id: id + "-yes", onclick: () => {
        if (reason && !reason.value.trim()) { reason.focus(); reason.setAttribute("aria-invalid", "true"); return; }
        close(); onYes(reason ? reason.value.trim() : undefined);
      } }, yes || t("ask.yes")),
      h("button", { id: id + "-no", onclick: close }, t("mem.no"))));
  document.body.append(dlg);
  dlg.showModal();
}

function openBooking(res, from, to) {
  const purpose = h("input", { id: "purpose", type: "text", size: 30 });
  const fromI = h("input", { id: "book-from", type: "datetime-local", value: from });
  const toI = h("input", { id: "book-to", type: "datetime-local", value: to });
  const repeat = h("select", { id: "book-repeat" }, ["", "daily", "weekly"].map((r) => h("option", { value: r }, t("cal.repeat." + (r || "none")))));
  const count = h("input", { id: "book-count", type: "number", min: 2, max: 100, value: 4, size: 4 });
  const dlg = h("dialog", { id: "book-dialog" },
    h("h2", {}, t("cal.book") + " · " + res.name),
    h("p", {}, h("label", {}, t("cal.from") + " ", fromI)),
    h("p", {}, h("label", {}, t("cal.to") + " ", toI)),
    h("p", {}, h("label", {}, t("cal.purpose") + " ", purpose)),
    h("p", {}, h("label", {}, t("cal.repeat") + " ", repeat), " ", h("label", {}, t("cal.count") + " ", count)),
    h("div", { class: "row" },
      h("button", { id: "book-confirm", class: "primary", onclick: () => {
        dlg.close(); dlg.remove();
        const series = repeat.value ? { repeat: repeat.value, count: Number(count.value) } : {};
        let said = t("cal.booked");
        act(async () => {
          const r = await api("POST", "/bookings", { resource: res.id, from: fromI.value.slice(0, 16), to: toI.value.slice(0, 16), purpose: purpose.value, ...series });
          // A series books what is free and says what it skipped.
          if ((r.skipped || []).length) throw new ApiError(t("cal.skipped", { n: r.ids.length, s: r.skipped.map((x) => short(x.from)).join(", ") }));
          // A resource that needs its owner's approval: asked, not booked.
          if (res.approval && res.owner !== status.org) said = t("cal.asked", { org: res.owner });
        }, () => said);
      } }, t("cal.book")),
      h("button", { onclick: () => { dlg.close(); dlg.remove(); } }, t("cal.close"))));
  document.body.append(dlg);
  dlg.showModal();
  purpose.focus();
}

// ---- charter: live editing -------------------------------------------------
// The page keeps `base`, the text and heads it last got from the node. After
// each pause in typing it sends its whole text with the base heads; the node
// applies the difference base → text where those characters are now (so a
// member's concurrent edits stay) and answers the merged text. Typing done
// while a request was out is carried over onto the merged text, and the caret
// follows. Edits from members arrive as server-sent events.

// The one region where `a` and `b` differ: a[s..e] became `ins`.
function region(a, b) {
  let s = 0;
  while (s < a.length && s < b.length && a[s] === b[s]) s++;
  let q = 0;
  while (q < a.length - s && q < b.length - s && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  return { s, e: a.length - q, ins: b.slice(s, b.length - q) };
}

// Where position p of `a` is after the change `r` (from region(a, b)).
function mapPos(p, r) {
  if (p <= r.s) return p;
  if (p >= r.e) return p + r.ins.length - (r.e - r.s);
  return r.s + r.ins.length;
}

// `old` became `server` on the node and `local` in the page: both changes.
function rebase(old, server, local, caret) {
  const mineR = region(old, local), theirs = region(old, server);
  const ms = mapPos(mineR.s, theirs), me = Math.max(ms, mapPos(mineR.e, theirs));
  const text = server.slice(0, ms) + mineR.ins + server.slice(me);
  let c;
  if (caret <= mineR.s) c = mapPos(caret, theirs);
  else if (caret <= mineR.s + mineR.ins.length) c = ms + (caret - mineR.s);
  else c = mapPos(caret - mineR.ins.length + (mineR.e - mineR.s), theirs) - (me - ms) + mineR.ins.length;
  return { text, caret: Math.max(0, Math.min(c, text.length)) };
}

pages.charter = {
  async render(main, page) {
    const st = page.state;
    if (!st.ta) {
      const data = await api("GET", "/charter");
      st.base = { text: data.text, heads: data.heads };
      st.ta = h("textarea", { id: "charter-text", spellcheck: "true", "aria-label": t("charter.textlabel") });
      st.ta.value = data.text;
      st.info = h("p", { id: "charter-state", class: "muted" }, t("ch.saved"));
      st.ta.addEventListener("input", () => { clearTimeout(st.timer); st.timer = setTimeout(() => charterSend(st), 350); });
      st.history = h("div", {});
      fill(main, h("h1", {}, t("ch.title")), st.info, st.ta, st.history);
    } else {
      await charterPull(st);
    }
    const [history, adopted] = await Promise.all([
      api("GET", "/charter/history").catch(() => []),
      api("GET", "/charter/adopted").catch(() => null),
    ]);
    fill(st.history,
      h("h2", {}, t("ch.adopted")),
      adopted && adopted.text ? h("pre", { id: "adopted" }, adopted.text) : h("p", { class: "muted" }, t("ch.noadopted")),
      h("h2", {}, t("ch.history")),
      h("ul", { id: "history" }, (Array.isArray(history) ? history : []).slice().sort((x, y) => String(y.time).localeCompare(String(x.time))).slice(0, 20).map((c, i, all) => {
        // Each adoption, with what it changed since the one before.
        const before = c.kind === "adopted" ? all.slice(i + 1).find((x) => x.kind === "adopted") : null;
        const diff = before ? diffBox(st, t("ch.changes"), { from: before.proposal, to: c.proposal }) : null;
        // A colleague's name only beside this node's own edits.
        const by = c.by && c.device === status.device ? " (" + c.by + ")" : "";
        return h("li", { class: c.kind }, when(c.time) + " · " + c.org + by + " · " + (c.kind === "adopted" ? t("ch.adoptedby", { p: String(c.proposal).slice(0, 8) }) : t("ch.edits", { n: c.ops })), diff);
      })));
  },
  leave() { const st = current && current.state; if (st && st.ta) { clearTimeout(st.timer); charterSend(st); } },
};

function charterApply(st, old, server, heads) {
  const ta = st.ta;
  const local = ta.value;
  const focused = document.activeElement === ta;
  const caret = ta.selectionStart;
  let next;
  if (local === old) {
    const r = region(old, server);
    next = { text: server, caret: mapPos(caret, r) };
  } else {
    next = rebase(old, server, local, caret);
  }
  if (next.text !== local) {
    ta.value = next.text;
    if (focused) ta.setSelectionRange(next.caret, next.caret);
    if (server !== old) st.info.textContent = t("ch.merged");
  }
  st.base = { text: server, heads };
  if (ta.value !== st.base.text) { clearTimeout(st.timer); st.timer = setTimeout(() => charterSend(st), 50); }
}

async function charterSend(st) {
  if (st.inflight) { st.again = true; return; }
  const sent = st.ta.value;
  if (sent === st.base.text) return;
  st.inflight = true;
  st.info.textContent = t("ch.saving");
  try {
    const r = await api("PUT", "/charter", { base: st.base.heads, text: sent });
    st.inflight = false;
    charterApply(st, sent, r.text, r.heads);
    if (st.info.textContent === t("ch.saving")) st.info.textContent = t("ch.saved");
  } catch (e) {
    st.inflight = false;
    notice(e.message);
    // The node no longer knows our base: start again from its text, keeping ours.
    const data = await api("GET", "/charter").catch(() => null);
    if (data) charterApply(st, st.base.text, data.text, data.heads);
  }
  if (st.again || st.pull) { st.again = false; if (st.pull) { st.pull = false; await charterPull(st); } else charterSend(st); }
}

async function charterPull(st) {
  if (st.inflight) { st.pull = true; return; }
  const data = await api("GET", "/charter");
  if (st.inflight) { st.pull = true; return; }
  if (data.heads.join() === st.base.heads.join()) return;
  if (st.ta.value === st.base.text) charterApply(st, st.base.text, data.text, data.heads);
  else charterSend(st);
}

// ---- library ---------------------------------------------------------------

const KINDS = ["procedure", "job-profile", "regulation", "statute", "budget", "template", "other"];

pages.library = {
  async render(main, page) {
    const st = page.state;
    if (!st.list) {
      st.file = null;
      const fileI = h("input", { type: "file", id: "file", "aria-label": t("lib.filelabel") });
      const title = h("input", { id: "lib-title", type: "text", size: 30 });
      const kind = h("select", { id: "lib-kind" }, KINDS.map((k) => h("option", { value: k, selected: k === "other" }, t("kind." + k))));
      const tags = h("input", { id: "lib-tags", type: "text", size: 30 });
      const chosen = h("span", { class: "muted", id: "lib-chosen" });
      const choose = (f) => { st.file = f; chosen.textContent = f ? f.name + " (" + bytes(f.size) + ")" : ""; if (f && !title.value) title.value = f.name.replace(/\.[^.]*$/, ""); };
      fileI.addEventListener("change", () => choose(fileI.files[0] || null));
      const drop = h("div", { class: "drop", id: "drop" }, t("lib.drop"), " ", fileI, " ", chosen);
      drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
      drop.addEventListener("dragleave", () => drop.classList.remove("over"));
      drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files[0] || null); });
      const upload = h("button", { id: "upload", class: "primary", onclick: () => {
        if (!st.file) { notice(t("lib.nofile")); return; }
        const f = st.file;
        act(async () => {
          const q = new URLSearchParams({ file_name: f.name, title: title.value || f.name, kind: kind.value, tags: tags.value });
          await api("POST", "/library?" + q, undefined, await f.arrayBuffer());
          st.file = null; fileI.value = ""; title.value = ""; tags.value = ""; chosen.textContent = ""; kind.value = "other";
        }, t("lib.added"));
      } }, t("lib.upload"));
      st.search = h("input", { id: "lib-search", type: "search", placeholder: t("lib.search") });
      st.search.addEventListener("input", () => { clearTimeout(st.timer); st.timer = setTimeout(refresh, 250); });
      st.list = h("table", { id: "library" });
      fill(main, h("h1", {}, t("lib.title")), drop,
        h("div", { class: "row" }, h("label", {}, t("lib.titlef") + " ", title), h("label", {}, t("lib.kind") + " ", kind)),
        h("div", { class: "row" }, h("label", {}, t("lib.tags") + " ", tags), upload),
        h("h2", {}, t("lib.entries")), h("label", {}, t("lib.search") + " ", st.search), st.list);
    }
    const q = st.search.value.trim();
    const list = await api("GET", "/library" + (q ? "?search=" + encodeURIComponent(q) : ""));
    if (unchanged(page, list, q)) return;
    fill(st.list, h("tr", {}, ["lib.titlef", "lib.kind", "lib.tags", "lib.size", "lib.by", "lib.where", "lib.file"].map((k) => h("th", { scope: "col" }, t(k)))),
      ...(list.length ? list.map((e) => h("tr", { "data-entry": e.id },
      h("td", {}, h("strong", {}, e.title), h("div", { class: "muted" }, e.file_name)),
      h("td", {}, t("kind." + e.kind)), h("td", {}, (e.tags || []).map((g) => h("span", { class: "tag" }, g))),
      h("td", {}, bytes(e.size)), h("td", {}, e.added_by),
      h("td", { class: e.available ? "available" : "missing" }, e.available ? "✓ " + t("lib.here") : t("lib.notyet", { p: e.size ? Math.floor(100 * (e.received || 0) / e.size) : 0 })),
      h("td", {}, e.available ? h("a", { class: "download", href: "/api/library/" + e.id + "/file", download: e.file_name }, t("lib.download")) : ""))) : [h("tr", {}, h("td", { class: "muted" }, t("lib.empty")))]));
  },
};

// ---- values ----------------------------------------------------------------

pages.values = {
  async render(main, page) {
    const values = await api("GET", "/values");
    if (unchanged(page, values)) return;
    const name = h("input", { id: "value-name", type: "text" }), desc = h("input", { id: "value-desc", type: "text", size: 40 });
    fill(main, h("h1", {}, t("val.title")),
      values.length ? h("div", { class: "cards", id: "values" }, values.map((v) => h("div", { class: "card" },
        h("h2", {}, v.name), h("p", {}, v.description || ""),
        h("p", { class: "muted" }, t("val.endorsedby", { orgs: (v.endorsed_by || []).join(", ") || "—" })),
        (v.endorsed_earlier_wording || []).length ? h("p", { class: "muted earlier" }, t("val.earlier", { orgs: v.endorsed_earlier_wording.join(", ") })) : null,
        (v.endorsed_by || []).includes(status.org)
          ? h("button", { class: "withdraw", onclick: () => act(() => api("POST", "/values/" + v.id + "/withdraw")) }, t("val.withdraw"))
          : h("button", { class: "endorse", onclick: () => act(() => api("POST", "/values/" + v.id + "/endorse")) }, t("val.endorse"))))) : h("p", { class: "muted" }, t("val.empty")),
      h("h2", {}, t("val.add")),
      h("div", { class: "row" }, h("label", {}, t("val.name") + " ", name), h("label", {}, t("val.desc") + " ", desc),
        h("button", { class: "primary", id: "value-add", onclick: () => act(() => api("POST", "/values", { name: name.value, description: desc.value })) }, t("val.add"))));
  },
};

// ---- proposals and the decision log --------------------------------------------

const POSITIONS = ["agree", "abstain", "disagree", "block"];

pages.proposals = {
  async render(main, page) {
    const [proposals, decisions] = await Promise.all([api("GET", "/proposals"), api("GET", "/decisions").catch(() => [])]);
    if (unchanged(page, proposals, decisions)) return;
    // What awaits this organisation's vote comes first.
    const awaiting = (p) => p.status === "open" && !(p.votes || []).some((v) => v.org === status.org);
    const open = proposals.filter((p) => p.status === "open").sort((x, y) => awaiting(y) - awaiting(x));
    const card = (p) => {
      const reason = h("input", { type: "text", size: 40, class: "vote-reason", placeholder: t("prop.reason"), "aria-label": t("prop.reason") });
      const mine = (p.votes || []).find((v) => v.org === status.org);
      const diff = p.kind === "charter-amendment" ? diffBox(page.state, t("prop.diff"), { from: "adopted", to: p.id }) : null;
      return h("div", { class: "card proposal" + (awaiting(p) ? " awaiting" : ""), "data-proposal": p.id },
        h("h2", {}, p.title, awaiting(p) ? h("span", { class: "tag todo" }, t("prop.todo")) : null),
        h("p", { class: "muted" }, t("prop.kind." + p.kind) + " · " + t("prop.process." + p.process) + " · " +
          (p.status === "open" ? t("prop.deadline", { d: relative(p.deadline) }) : when(p.deadline)) + " · " + p.created_by + (p.by ? " (" + p.by + ")" : "")),
        p.text ? h("pre", { class: "proposal-text" }, p.text) : null,
        diff,
        h("ul", { class: "votes" }, (p.votes || []).map((v) => h("li", { class: v.position }, v.org + (v.org === status.org && p.vote_by ? " (" + p.vote_by + ")" : "") + " : " + t("pos." + v.position) + (v.reason ? " — " + v.reason : "")))),
        p.status === "open" ? [
          mine ? h("p", { class: "muted" }, t("prop.mine", { p: t("pos." + mine.position) })) : null,
          h("div", { class: "row" }, reason,
            POSITIONS.map((pos) => h("button", { class: "vote " + pos + (pos === "block" ? " danger" : ""), "data-position": pos,
              onclick: () => act(() => api("POST", "/proposals/" + p.id + "/vote", { position: pos, reason: reason.value }), t("prop.voted")) }, t("pos." + pos))))] :
          h("p", { class: "outcome" }, t("prop.status." + p.status)));
    };
    const kind = h("select", { id: "prop-kind" }, ["general", "charter-amendment"].map((k) => h("option", { value: k }, t("prop.kind." + k))));
    const title = h("input", { id: "prop-title", type: "text", size: 40 });
    const text = h("textarea", { id: "prop-text", rows: 6 });
    const process = h("select", { id: "prop-process" }, h("option", { value: "" }, t("prop.default")), ["consent", "consensus", "majority"].map((k) => h("option", { value: k }, t("prop.process." + k))));
    const deadline = h("input", { id: "prop-deadline", type: "datetime-local" });
    // An amendment starts from the charter draft as it is now, and shows
    // what it changes in the adopted charter before it is sent.
    const preview = h("div", { id: "prop-diff", "aria-live": "polite" });
    let timer = null;
    const redraw = () => { clearTimeout(timer); timer = setTimeout(() => kind.value === "charter-amendment" ? showDiff(preview, { from: "adopted", text: text.value }) : fill(preview), 300); };
    kind.addEventListener("change", async () => {
      if (kind.value === "charter-amendment" && !text.value) text.value = (await api("GET", "/charter").catch(() => ({ text: "" }))).text;
      redraw();
    });
    text.addEventListener("input", redraw);
    fill(main, h("h1", {}, t("prop.title")),
      open.length ? h("div", { class: "cards", id: "open-proposals" }, open.map(card)) : h("p", { class: "muted" }, t("prop.none")),
      h("h2", {}, t("prop.new")),
      h("div", { class: "row" }, h("label", {}, t("prop.kindlabel") + " ", kind), h("label", {}, t("prop.titlelabel") + " ", title)),
      h("p", {}, h("label", {}, t("prop.textlabel"), h("br", {}), text)),
      preview,
      h("div", { class: "row" }, h("label", {}, t("prop.processlabel") + " ", process), h("label", {}, t("prop.deadlinelabel") + " ", deadline),
        h("button", { class: "primary", id: "propose", onclick: () => act(() => api("POST", "/proposals", {
          kind: kind.value, title: title.value, text: text.value, process: process.value || null, deadline: deadline.value ? deadline.value.slice(0, 16) : null,
        }), t("prop.opened")) }, t("prop.open"))),
      h("h2", {}, t("prop.log")),
      h("p", {}, h("a", { id: "decisions-export", href: "/api/decisions.md", download: "decisions.md" }, t("prop.export"))),
      decisions.length ? h("div", { id: "decisions" }, decisions.map(card)) : h("p", { class: "muted" }, t("prop.nolog")));
  },
};

// ---- trainings and events ------------------------------------------------------

pages.events = {
  async render(main, page) {
    const [events, resources] = await Promise.all([api("GET", "/events"), api("GET", "/resources").catch(() => [])]);
    if (unchanged(page, events, resources)) return;
    const card = (e) => {
      const mine = (e.registrations || []).find((r) => r.org === status.org);
      const organiser = e.org === status.org;
      const seats = h("input", { type: "number", min: 1, max: e.per_org || e.seats, value: mine ? mine.seats : 1, class: "ev-seats", size: 4 });
      const names = h("input", { type: "text", size: 30, class: "ev-names", value: mine ? mine.names : "" });
      return h("div", { class: "card event", "data-event": e.id },
        h("h2", {}, e.title),
        h("p", {}, short(e.from) + " → " + hourOf(e.to)),
        h("p", { class: "muted" }, t("ev.by", { org: e.org }), e.booking ? " · " + t("ev.room") : "", e.per_org ? " · " + t("ev.perorg", { n: e.per_org }) : ""),
        h("p", { class: "seats" }, t("ev.seats", { c: e.confirmed_seats, n: e.seats }), e.closed ? " · " + t("ev.closed") : ""),
        h("ul", { class: "registrations" }, (e.registrations || []).map((r) => h("li", { class: r.status, "data-org": r.org },
          r.org + " · " + r.seats + " · " + t("ev." + r.status) + (r.after_close ? " (" + t("ev.after") + ")" : "")))),
        e.closed ? null : h("div", { class: "row" },
          h("label", {}, t("ev.nseats") + " ", seats), h("label", {}, t("ev.names") + " ", names),
          h("button", { class: "primary register", onclick: () => act(() => api("POST", "/events/" + e.id + "/register", { seats: Number(seats.value), names: names.value }), t("ev.registered")) }, mine ? t("ev.update") : t("ev.register"))),
        h("div", { class: "row" },
          mine ? h("button", { class: "danger cancel-registration", onclick: () => act(() => api("POST", "/events/" + e.id + "/cancel-registration")) }, t("ev.cancel")) : null,
          organiser ? h("button", { class: "close-registrations", onclick: () => act(() => api("POST", "/events/" + e.id + (e.closed ? "/open" : "/close"))) }, e.closed ? t("ev.open") : t("ev.close")) : null,
          h("a", { class: "attendance", href: "/api/events/" + e.id + "/attendance.csv", download: "presences.csv" }, t("ev.attendance"))));
    };
    const title = h("input", { id: "ev-title", type: "text", size: 30 });
    const from = h("input", { id: "ev-from", type: "datetime-local" });
    const to = h("input", { id: "ev-to", type: "datetime-local" });
    const seats = h("input", { id: "ev-seats", type: "number", min: 1, value: 10, size: 4 });
    const perOrg = h("input", { id: "ev-per-org", type: "number", min: 1, size: 4 });
    const room = h("select", { id: "ev-resource" }, h("option", { value: "" }, t("ev.none")), resources.map((r) => h("option", { value: r.id }, r.name)));
    fill(main, h("h1", {}, t("ev.title")),
      events.length ? h("div", { class: "cards", id: "events" }, events.map(card)) : h("p", { class: "muted" }, t("ev.empty")),
      h("h2", {}, t("ev.add")),
      h("div", { class: "row" }, h("label", {}, t("ev.name") + " ", title), h("label", {}, t("cal.from") + " ", from), h("label", {}, t("cal.to") + " ", to)),
      h("div", { class: "row" }, h("label", {}, t("ev.nseats") + " ", seats), h("label", {}, t("ev.perorglabel") + " ", perOrg),
        h("label", {}, t("ev.resource") + " ", room),
        h("button", { class: "primary", id: "ev-add", onclick: () => act(() => api("POST", "/events", {
          title: title.value, from: from.value.slice(0, 16), to: to.value.slice(0, 16), seats: Number(seats.value),
          per_org: perOrg.value ? Number(perOrg.value) : null, resource: room.value || null,
        })) }, t("ev.add"))));
  },
};

// ---- working groups --------------------------------------------------------------

pages.groups = {
  async render(main, page) {
    const st = page.state;
    const [groups, members, library, proposals] = await Promise.all([api("GET", "/groups"), api("GET", "/members"),
      api("GET", "/library"), api("GET", "/proposals")]);
    const notes = {};
    const heads = {};
    for (const g of groups.filter((g) => g.member)) {
      const n = await api("GET", "/groups/" + g.id + "/notes").catch(() => ({ text: "", heads: [] }));
      notes[g.id] = n.text; heads[g.id] = n.heads || [];
    }
    const q = st.find ? st.find.value.trim().toLowerCase() : "";
    if (unchanged(page, groups, members, library, proposals, notes, q)) return;
    const active = members.filter((m) => m.status === "active");
    const card = (g) => {
      const mine = g.member;
      const others = active.filter((m) => !g.orgs.includes(m.org));
      const addSel = h("select", { class: "grp-add-org" }, others.map((m) => h("option", { value: m.org_id || m.org }, m.org)));
      const text = h("textarea", { class: "grp-notes", rows: 6, "aria-label": t("grp.notes") }, notes[g.id] || "");
      const file = h("input", { type: "file", class: "grp-file", "aria-label": t("grp.upload") });
      const ptitle = h("input", { type: "text", size: 30, class: "grp-prop-title", "aria-label": t("prop.titlelabel") });
      const ptext = h("input", { type: "text", size: 40, class: "grp-prop-text", "aria-label": t("prop.textlabel") });
      const shelf = library.filter((e) => e.group === g.name);
      const props = proposals.filter((p) => p.group === g.name);
      return h("div", { class: "card group", "data-group": g.id },
        h("h2", {}, g.name), g.description ? h("p", {}, g.description) : null,
        h("p", { class: "muted grp-members" }, t("grp.members", { orgs: g.orgs.join(", ") })),
        mine ? [
          h("p", { class: "muted" }, t("grp.member")),
          h("div", { class: "row" }, others.length ? [addSel, h("button", { class: "grp-add", onclick: () => act(() => api("POST", "/groups/" + g.id + "/add", { org: addSel.value })) }, t("grp.add"))] : null,
            g.orgs.filter((o) => o !== status.org).map((o) => h("button", { class: "grp-remove", "data-org": o, onclick: () => act(() => api("POST", "/groups/" + g.id + "/remove", { org: o })) }, t("grp.remove") + " " + o)),
            g.orgs.length > 1 ? h("button", { class: "danger grp-leave", onclick: () => act(() => api("POST", "/groups/" + g.id + "/leave")) }, t("grp.leave")) : null),
          h("h3", {}, t("grp.notes")), text,
          h("p", {}, h("button", { class: "primary grp-save", onclick: () => act(() => api("PUT", "/groups/" + g.id + "/notes", { text: text.value, base: heads[g.id] }), t("grp.saved")) }, t("grp.save"))),
          h("h3", {}, t("grp.library")),
          shelf.length ? h("ul", { class: "grp-library" }, shelf.map((e) => h("li", { "data-entry": e.id }, e.available ? h("a", { href: "/api/library/" + e.id + "/file", download: e.file_name }, e.title) : e.title, " · " + e.added_by))) : h("p", { class: "muted" }, t("grp.nolib")),
          h("div", { class: "row" }, file, h("button", { class: "grp-upload", onclick: () => act(async () => {
            const f = file.files[0];
            if (!f) throw new ApiError(t("lib.nofile"));
            const qs = new URLSearchParams({ file_name: f.name, title: f.name.replace(/\.[^.]*$/, ""), group: g.id });
            await api("POST", "/library?" + qs, undefined, await f.arrayBuffer());
          }, t("lib.added")) }, t("grp.upload"))),
          h("h3", {}, t("grp.proposals")),
          props.length ? h("ul", { class: "grp-proposals" }, props.map((p) => h("li", { "data-proposal": p.id }, p.title + " · " + (p.status === "open" ? t("led.voting") : t("prop.status." + p.status)),
            p.status === "open" ? POSITIONS.filter((x) => x !== "block").map((pos) => h("button", { class: "vote " + pos, onclick: () => act(() => api("POST", "/proposals/" + p.id + "/vote", { position: pos, reason: "" }), t("prop.voted")) }, t("pos." + pos))) : null))) : h("p", { class: "muted" }, t("grp.noprop")),
          h("div", { class: "row" }, ptitle, ptext, h("button", { class: "grp-propose", onclick: () => act(() => api("POST", "/proposals", { kind: "general", title: ptitle.value, text: ptext.value, group: g.id }), t("prop.opened")) }, t("grp.propose"))),
        ] : h("p", { class: "muted" }, t("grp.notmember")));
    };
    if (!st.find) {
      st.find = h("input", { id: "grp-find", type: "search", placeholder: t("grp.find"), "aria-label": t("grp.find") });
      st.find.addEventListener("input", () => { clearTimeout(st.timer); st.timer = setTimeout(refresh, 250); });
    }
    const shown = groups.filter((g) => !q || (g.name + " " + g.description).toLowerCase().includes(q));
    const name = h("input", { id: "grp-name", type: "text", size: 24 });
    const desc = h("input", { id: "grp-desc", type: "text", size: 40 });
    const picks = active.filter((m) => m.org !== status.org).map((m) => h("label", { class: "grp-pick" }, h("input", { type: "checkbox", value: m.org_id || m.org }), " " + m.org));
    fill(main, h("h1", {}, t("grp.title")), st.find,
      shown.length ? h("div", { class: "cards", id: "groups" }, shown.map(card)) : h("p", { class: "muted" }, t("grp.none")),
      h("h2", {}, t("grp.create")),
      h("div", { class: "row" }, h("label", {}, t("grp.name") + " ", name), h("label", {}, t("grp.desc") + " ", desc)),
      h("div", { class: "row", id: "grp-orgs" }, t("grp.with") + " :", picks),
      h("p", {}, h("button", { class: "primary", id: "grp-create", onclick: () => act(() => api("POST", "/groups", {
        name: name.value, description: desc.value, orgs: picks.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      }), t("grp.created")) }, t("grp.create"))));
  },
};

// ---- the solidarity ledger ------------------------------------------------------

const FUND_KINDS = ["loan", "guarantee", "grant", "gift"];

pages.ledger = {
  async render(main, page) {
    const st = page.state;
    const groups = (await api("GET", "/groups").catch(() => [])).filter((g) => g.member);
    const book = st.book && groups.some((g) => g.id === st.book) ? st.book : "";
    const q = book ? "?group=" + encodeURIComponent(book) : "";
    const [ledger, fees, members] = await Promise.all([api("GET", "/ledger" + q), api("GET", "/fees"), api("GET", "/members")]);
    if (unchanged(page, ledger, fees, members, groups, book)) return;
    const bookSel = h("select", { id: "led-book", "aria-label": t("led.book") }, h("option", { value: "" }, t("led.alliance")),
      groups.map((g) => h("option", { value: g.id, selected: g.id === book }, g.name)));
    bookSel.addEventListener("change", () => { st.book = bookSel.value; refresh(); });
    const inBook = book ? { group: book } : {};
    const party = (name) => name === "fund" ? t("led.fund") : name;
    const money = (a, c) => a + " " + (c || "EUR");
    const coordinator = members.some((m) => m.org === status.org && m.role === "coordinator");
    const others = members.filter((m) => m.status === "active" && m.org !== status.org && (!ledger.visible_to || ledger.visible_to.includes(m.org)));
    const schedule = (rows) => rows && rows.length ? h("table", { class: "schedule" },
      h("tr", {}, h("th", {}, t("led.due")), h("th", {}, t("led.from")), h("th", {}, t("led.to")), h("th", {}, t("led.amount")), h("th", {}, t("led.paid"))),
      rows.map((r) => h("tr", { class: r.settled ? "settled" : "open" }, h("td", {}, dayOf(r.due)), h("td", {}, party(r.from)), h("td", {}, party(r.to)),
        h("td", {}, r.amount), h("td", {}, r.settled ? t("led.settled") : r.paid + " / " + t("led.open"))))) : null;
    // Balances.
    const balances = ledger.balances.length ? h("table", { id: "balances" },
      h("tr", {}, h("th", {}, t("led.party")), h("th", {}, t("led.balance")), h("th", {}, t("led.owes")), h("th", {}, t("led.isowed"))),
      ledger.balances.map((b) => h("tr", { "data-party": b.party }, h("td", {}, party(b.party)), h("td", { class: "balance" }, money(b.balance, b.currency)),
        h("td", { class: "owes" }, money(b.owes, b.currency)), h("td", {}, money(b.is_owed, b.currency))))) : h("p", { class: "muted" }, t("led.nomoney"));
    // Fees.
    const feeTable = fees.fees.length ? h("table", { id: "fees" },
      h("tr", {}, h("th", {}, t("led.year")), h("th", {}, t("led.party")), h("th", {}, t("led.tier")), h("th", {}, t("led.amount")), h("th", {}, t("led.paid"))),
      fees.fees.map((f) => h("tr", {}, h("td", {}, f.year), h("td", {}, f.org), h("td", {}, f.tier), h("td", {}, money(f.amount, f.currency)), h("td", {}, money(f.paid, f.currency))))) :
      h("p", { class: "muted" }, t("led.nofees"));
    // The support fund.
    const fKind = h("select", { id: "fund-kind" }, FUND_KINDS.map((k) => h("option", { value: k }, t("led.kind." + k))));
    const fAmount = h("input", { id: "fund-amount", type: "text", size: 10, placeholder: "1500.00" });
    const fReason = h("input", { id: "fund-reason", type: "text", size: 40 });
    const fRepay = h("input", { id: "fund-repay", type: "text", size: 14, value: "12 x monthly" });
    const requests = ledger.fund.requests.map((r) => h("div", { class: "card fund-request", "data-proposal": r.proposal },
      h("h3", {}, r.org + " · " + t("led.kind." + r.kind) + " · " + money(r.amount, r.currency)),
      h("p", {}, r.reason),
      h("p", { class: "muted" }, t("led.status", { s: r.status === "open" ? t("led.voting") : t("prop.status." + r.status) }), r.repay ? " · " + r.repay : ""),
      schedule(r.schedule)));
    // Loans between members.
    const lOrg = h("select", { id: "loan-org" }, others.map((m) => h("option", { value: m.org_id || m.org }, m.org)));
    const lAmount = h("input", { id: "loan-amount", type: "text", size: 10, placeholder: "5000.00" });
    const lRate = h("input", { id: "loan-rate", type: "text", size: 5, value: "0" });
    const lSchedule = h("input", { id: "loan-schedule", type: "text", size: 14, value: "4 x quarterly" });
    const loans = ledger.loans.map((l) => h("div", { class: "card loan", "data-loan": l.id },
      h("h3", {}, l.lender + " → " + l.borrower + " · " + money(l.amount, l.currency) + " · " + l.rate + " % · " + l.repay),
      h("p", { class: "muted loan-status" }, l.status === "accepted" ? t("led.accepted") : t("led.offered")),
      l.status === "offered" && l.borrower === status.org ? h("button", { class: "primary accept-loan", onclick: () => act(() => api("POST", "/loans/" + l.id + "/accept"), t("led.accept.ok")) }, t("led.accept")) : null,
      schedule(l.schedule)));
    // Payments.
    const pFrom = h("select", { id: "pay-from" }, h("option", { value: "fund" }, t("led.fund")), others.map((m) => h("option", { value: m.org_id || m.org }, m.org)));
    const pTo = h("select", { id: "pay-to" }, h("option", { value: "" }, t("led.us")), coordinator ? h("option", { value: "fund" }, t("led.fund")) : null);
    const refs = [...new Set(ledger.obligations.map((o) => o.reference))];
    const pFor = h("select", { id: "pay-for" }, h("option", { value: "" }, "—"), refs.map((r) => h("option", { value: r }, r)));
    const pAmount = h("input", { id: "pay-amount", type: "text", size: 10, placeholder: "125.00" });
    const pNote = h("input", { id: "pay-note", type: "text", size: 24 });
    const payments = ledger.payments.length ? h("table", { id: "payments" }, ledger.payments.map((p) => h("tr", { "data-payment": p.id },
      h("td", {}, dayOf(p.date)), h("td", {}, party(p.payer) + " → " + party(p.payee)), h("td", {}, money(p.amount, p.currency)),
      h("td", { class: "muted" }, p.reference), h("td", { class: "muted" }, p.note),
      h("td", { class: "confirmed" }, p.confirmed ? t("led.confirmed") : (p.payer === status.org || (p.payer === "fund" && coordinator)) ?
        h("button", { class: "confirm-payment", onclick: () => act(() => api("POST", "/payments/" + p.id + "/confirm")) }, t("led.confirm")) : t("led.unconfirmed"))))) :
      h("p", { class: "muted" }, t("led.nopayments"));
    fill(main, h("h1", {}, t("led.title")),
      h("p", {}, h("label", {}, t("led.book") + " ", bookSel)),
      h("p", { class: "muted", id: "led-visible" }, book ? t("led.visiblegroup", { orgs: (ledger.visible_to || []).join(", ") }) : t("led.visible")),
      h("h2", {}, t("led.balances")), balances,
      h("p", {}, h("a", { id: "ledger-export", href: "/api/ledger.csv" + q, download: "ledger.csv" }, t("led.export"))),
      h("h2", {}, t("led.fundtitle")), h("div", { class: "cards", id: "fund-requests" }, requests),
      h("div", { class: "row" }, h("label", {}, t("led.kind") + " ", fKind), h("label", {}, t("led.amount") + " ", fAmount),
        h("label", {}, t("led.repay") + " ", fRepay)),
      h("div", { class: "row" }, h("label", {}, t("led.reason") + " ", fReason),
        h("button", { class: "primary", id: "fund-ask", onclick: () => act(() => api("POST", "/fund/requests", {
          kind: fKind.value, amount: fAmount.value, reason: fReason.value, repay: fKind.value === "loan" ? fRepay.value : null, ...inBook,
        }), t("led.asked")) }, t("led.ask"))),
      h("h2", {}, t("led.loans")), loans.length ? h("div", { class: "cards", id: "loans" }, loans) : h("p", { class: "muted" }, t("led.noloans")),
      others.length ? h("div", { class: "row" }, h("label", {}, t("led.to") + " ", lOrg), h("label", {}, t("led.amount") + " ", lAmount),
        h("label", {}, t("led.rate") + " ", lRate), h("label", {}, t("led.schedule") + " ", lSchedule),
        h("button", { class: "primary", id: "loan-offer", onclick: () => act(() => api("POST", "/loans", {
          org: lOrg.value, amount: lAmount.value, rate: lRate.value, schedule: lSchedule.value, ...inBook,
        }), t("led.offered.ok")) }, t("led.offer"))) : null,
      h("h2", {}, t("led.payments")), payments,
      h("h3", {}, t("led.record")),
      h("div", { class: "row" }, h("label", {}, t("led.from") + " ", pFrom), h("label", {}, t("led.receiver") + " ", pTo),
        h("label", {}, t("led.amount") + " ", pAmount), h("label", {}, t("led.for") + " ", pFor), h("label", {}, t("led.note") + " ", pNote),
        h("button", { class: "primary", id: "pay-record", onclick: () => act(() => api("POST", "/payments", {
          from: pFrom.value, to: pTo.value || null, amount: pAmount.value, reference: pFor.value || null, note: pNote.value, ...inBook,
        }), t("led.recorded")) }, t("led.record"))),
      h("h2", {}, t("led.fees")), feeTable);
  },
};

// ---- members -----------------------------------------------------------------

pages.members = {
  async render(main, page) {
    const st = page.state;
    const [members, profiles, people] = await Promise.all([api("GET", "/members"), api("GET", "/orgs").catch(() => []), api("GET", "/people").catch(() => [])]);
    if (unchanged(page, members, profiles, people)) return;
    const colleague = h("input", { id: "colleague-name", type: "text", size: 30, autocomplete: "name" });
    const profileOf = (m) => profiles.find((p) => p.org === m.org);
    // What the alliance's rule lets this organisation do: under the
    // coordinator rule only a coordinator's removals count; under consensus
    // every other organisation may block an admission or a removal.
    const coordinator = members.some((m) => m.org === status.org && m.role === "coordinator");
    const rule = (status.alliance || {}).admission;
    const active = members.some((m) => m.org === status.org && m.status === "active");
    const mayRemove = rule === "coordinator" ? coordinator : active;
    const mayBlock = rule === "consensus" && active;
    const removal = (m) => (m.waiting || []).find((w) => w.kind === "remove");
    const approvedByMe = (w) => (w.approved_by || []).includes(status.org);
    // A coordinator sets each organisation's role (the node refuses to leave
    // the alliance without a coordinator, and says so).
    const roleSelect = (m) => {
      const sel = h("select", { class: "role", "aria-label": t("mem.rolefor", { org: m.org }) },
        ["member", "coordinator"].map((r) => h("option", { value: r, selected: r === m.role }, t("mem.role." + r))));
      sel.addEventListener("change", () => act(() => api("POST", "/members/" + encodeURIComponent(m.org_id || m.org) + "/role", { role: sel.value }), t("mem.rolechanged")));
      return sel;
    };
    const blockButton = (m) => h("button", { class: "danger block", onclick: () => ask("block", t("mem.blockwhy", { org: m.org }), true,
      (reason) => act(() => api("POST", "/members/" + encodeURIComponent(m.org_id || m.org) + "/block", { reason }), t("mem.blocked"))) }, t("mem.block"));
    const mine2 = members.find((m) => m.org === status.org) || { devices: [] };
    // Who has approved a pending admission or removal, and whose approval
    // it still waits for, under the alliance's rule.
    const voters = (m) => members.filter((o) => o.status === "active" && o.org !== m.org);
    const waits = (m, w) => {
      const done = w.approved_by || [];
      const what = t(w.kind === "remove" ? "mem.w.remove" : "mem.w.admit");
      if (rule === "consensus") {
        const missing = voters(m).map((o) => o.org).filter((o) => !done.includes(o));
        return t("mem.w.consensus", { what, done: done.join(", ") || "—", missing: missing.join(", ") || "—" });
      }
      if (rule === "majority") {
        const need = Math.floor(voters(m).length / 2) + 1;
        return t("mem.w.majority", { what, done: done.join(", ") || "—", n: done.length, need });
      }
      return t("mem.w.coordinator", { what, done: done.join(", ") || "—" });
    };
    const deviceBox = st.deviceBox || (st.deviceBox = h("div", { id: "device-invitation" }));
    const role = h("select", { id: "invite-role" }, h("option", { value: "member" }, t("mem.role.member")), coordinator ? h("option", { value: "coordinator" }, t("mem.role.coordinator")) : null);
    const profileLine = (p) => p ? [p.description, p.contact, (p.offers || []).length ? t("prof.offers", { l: p.offers.join(", ") }) : "", (p.needs || []).length ? t("prof.needs", { l: p.needs.join(", ") }) : ""].filter(Boolean).join(" · ") : "";
    const mine = profiles.find((p) => p.org === status.org) || {};
    const pDesc = h("input", { id: "profile-description", type: "text", size: 40, value: mine.description || "" });
    const pContact = h("input", { id: "profile-contact", type: "text", size: 30, value: mine.contact || "" });
    const pOffers = h("input", { id: "profile-offers", type: "text", size: 30, value: (mine.offers || []).join(", ") });
    const pNeeds = h("input", { id: "profile-needs", type: "text", size: 30, value: (mine.needs || []).join(", ") });
    const tagsOf = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
    const ticketBox = st.ticketBox || (st.ticketBox = h("div", { id: "invitation" }));
    fill(main, h("h1", {}, t("mem.title")),
      h("table", { id: "members" }, members.map((m) => h("tr", { "data-org": m.org },
        h("td", {}, h("strong", {}, m.org), h("div", { class: "muted profile" }, profileLine(profileOf(m)))), h("td", {}, coordinator && m.status === "active" ? roleSelect(m) : t("mem.role." + m.role)), h("td", {}, t("mem.status." + m.status)),
        h("td", { class: "muted waits" }, t("mem.devices", { n: (m.devices || []).length }), (m.waiting || []).map((w) => h("div", {}, waits(m, w)))),
        h("td", {},
          m.status === "pending" && !(m.waiting || []).some(approvedByMe) ? h("button", { class: "primary approve", onclick: () => act(() => api("POST", "/members/" + encodeURIComponent(m.org_id || m.org) + "/approve")) }, t("mem.approve")) : null,
          m.status === "pending" && mayBlock ? blockButton(m) : null,
          m.status === "active" && m.org !== status.org && removal(m) && !approvedByMe(removal(m)) && active ? h("button", { class: "primary approve-removal", onclick: () => act(() => api("POST", "/members/" + encodeURIComponent(m.org_id || m.org) + "/approve")) }, t("mem.approveremoval")) : null,
          m.status === "active" && m.org !== status.org && removal(m) && mayBlock ? blockButton(m) : null,
          m.status === "active" && m.org !== status.org && !removal(m) && mayRemove ? h("button", { class: "danger remove", onclick: () => confirmRemove(m) }, t("mem.remove")) : null)))),
      h("h2", {}, t("prof.title")),
      h("div", { class: "row" }, h("label", {}, t("prof.description") + " ", pDesc), h("label", {}, t("prof.contact") + " ", pContact)),
      h("div", { class: "row" }, h("label", {}, t("prof.offerslabel") + " ", pOffers), h("label", {}, t("prof.needslabel") + " ", pNeeds),
        h("button", { class: "primary", id: "profile-save", onclick: () => act(() => api("PUT", "/orgs/me", {
          description: pDesc.value, contact: pContact.value, offers: tagsOf(pOffers.value), needs: tagsOf(pNeeds.value),
        }), t("prof.saved")) }, t("prof.save"))),
      members.some((m) => m.org === status.org && m.status === "active") ? h("p", {}, h("button", { class: "danger", id: "leave", onclick: () => confirmLeave().catch((e) => notice(e.message)) }, t("leave.title"))) : null,
      h("h2", {}, t("mem.loginlink")),
      h("p", { class: "muted" }, t("mem.loginhelp")),
      h("button", { id: "login-link", onclick: () => act(async () => {
        const r = await api("POST", "/login-link");
        fill(st.linkBox, h("p", { class: "ticket", id: "login-url" }, r.url));
      }) }, t("mem.loginlink")),
      st.linkBox || (st.linkBox = h("div", {})),
      h("h2", {}, t("ppl.title")),
      h("p", { class: "muted" }, t("ppl.help")),
      h("div", { class: "row" }, h("label", {}, t("ppl.name") + " ", colleague),
        h("button", { id: "colleague-invite", onclick: () => act(async () => {
          const r = await api("POST", "/people", { name: colleague.value });
          fill(st.personBox, h("p", {}, t("ppl.link", { name: r.person.name })), h("p", { class: "ticket", id: "colleague-url" }, location.origin + r.path));
        }) }, t("ppl.invite"))),
      st.personBox || (st.personBox = h("div", {})),
      people.length ? h("table", { id: "people" }, people.map((p) => h("tr", { "data-person": p.name },
        h("td", {}, p.name), h("td", { class: "muted" }, p.revoked_ms ? t("ppl.revoked") : t("ppl.since", { d: when(new Date(p.added_ms).toISOString()) })),
        h("td", {}, p.revoked_ms ? null : h("button", { class: "danger revoke", onclick: () => ask("revoke", t("ppl.revokesure", { name: p.name }), false,
          () => act(() => api("POST", "/people/" + p.id + "/revoke"))) }, t("ppl.revoke")))))) : null,
      h("h2", {}, t("dev.title", { org: status.org })),
      h("table", { id: "devices" }, (mine2.devices || []).map((d) => h("tr", { "data-device": d },
        h("td", { class: "ticket" }, d.slice(0, 16) + "…"),
        h("td", {}, d === status.device ? t("dev.this") : h("button", { class: "danger revoke-device", onclick: () => ask("device", t("dev.revokesure"), false,
          () => act(() => api("POST", "/devices/" + d + "/remove"), t("dev.revoked"))) }, t("dev.revoke")))))),
      h("p", { class: "muted" }, t("dev.help")),
      h("button", { id: "device-invite", onclick: () => act(async () => {
        const r = await api("POST", "/devices/invite", {});
        fill(deviceBox, h("p", {}, t("dev.ticket")), h("p", { class: "ticket", id: "device-ticket" }, r.ticket),
          r.qr_svg ? h("p", { class: "qr" }, h("img", { alt: t("dev.qr"), width: 240, height: 240, src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(r.qr_svg) })) : null);
      }) }, t("dev.invite")),
      deviceBox,
      h("h2", {}, t("mem.invite")),
      coordinator ? h("p", {}, h("label", {}, t("mem.inviterole") + " ", role)) : null,
      h("button", { id: "invite", class: "primary", onclick: () => act(async () => {
        const r = await api("POST", "/invite", { role: role.value, expires: "7d" });
        fill(ticketBox, h("p", {}, t("mem.ticket")), h("p", { class: "ticket", id: "ticket" }, r.ticket),
          r.qr_svg ? h("p", { class: "qr" }, h("img", { id: "qr", alt: "QR", width: 240, height: 240, src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(r.qr_svg) })) : null);
      }) }, t("mem.invite")),
      ticketBox);
  },
};

// Leaving says first what will happen, with this organisation's own figures.
async function confirmLeave() {
  const [bookings, resources] = await Promise.all([api("GET", "/bookings"), api("GET", "/resources")]);
  const now = new Date().toISOString();
  const own = bookings.filter((b) => b.org === status.org && b.status !== "cancelled" && !b.declined && b.to > now).length;
  const mine = resources.filter((r) => r.owner === status.org).length;
  const reason = h("input", { id: "leave-reason", type: "text", size: 40 });
  const dlg = h("dialog", { id: "leave-dialog" },
    h("h2", {}, t("leave.title")),
    h("p", { id: "leave-what" }, t("leave.what", { b: own, r: mine })),
    h("p", {}, t("leave.stays")),
    h("p", {}, h("label", {}, t("mem.reason") + " ", reason)),
    h("div", { class: "row" },
      h("button", { class: "danger", id: "leave-yes", onclick: () => { dlg.close(); dlg.remove(); act(() => api("POST", "/leave", { reason: reason.value }), t("leave.done")); } }, t("leave.yes")),
      h("button", { onclick: () => { dlg.close(); dlg.remove(); } }, t("mem.no"))));
  document.body.append(dlg);
  dlg.showModal();
}

function confirmRemove(m) {
  ask("remove", t("mem.confirm", { org: m.org }), true, (reason) =>
    act(() => api("POST", "/members/" + encodeURIComponent(m.org_id || m.org) + "/remove", { reason })), t("mem.yes"));
}

// The header counts the proposals that await this organisation's vote.
async function countAwaiting() {
  const list = await api("GET", "/proposals").catch(() => null);
  if (!list) return;
  const n = list.filter((p) => p.status === "open" && !(p.votes || []).some((v) => v.org === status.org)).length;
  const link = document.querySelector("nav a[data-page='proposals']");
  let badge = link.querySelector(".count");
  if (!n) { if (badge) badge.remove(); return; }
  if (!badge) { badge = h("span", { class: "count" }); link.append(" ", badge); }
  badge.textContent = String(n);
  badge.setAttribute("aria-label", t("prop.awaiting", { n }));
}

// ---- setting up a new node -------------------------------------------------

// A node with no organisation or no alliance yet: create the organisation,
// then found an alliance or join one with a ticket (pasted, or read from its
// QR code with the camera where the browser can).
let setupState = { key: null, pending: null };
async function setupPage(main) {
  const key = JSON.stringify([lang, status.setup, status.org, setupState.pending]);
  if (setupState.key === key) return;
  setupState.key = key;
  const started = async () => {
    notice(t("setup.starting"), true);
    // The node replaces this set-up page on the same address.
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const st = await fetch("/api/status", { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null).catch(() => null);
      if (st && !st.setup) { location.hash = "#home"; route(); return; }
    }
  };
  if (status.setup === "org") {
    const name = h("input", { id: "setup-org-name", type: "text", size: 40, autocomplete: "organization" });
    fill(main, h("h1", {}, t("setup.welcome")), h("p", {}, t("setup.intro")),
      h("div", { class: "card" }, h("h2", {}, t("setup.org")),
        h("p", { class: "field" }, h("label", {}, t("setup.orgname") + " ", name), " ", h("span", { class: "hint muted" }, t("setup.orghint"))),
        h("button", { class: "primary", id: "setup-org-save", onclick: () => act(() => api("POST", "/setup/org", { name: name.value })) }, t("setup.create"))));
    return;
  }
  if (status.setup === "done") { await started(); return; }
  const alliance = h("input", { id: "setup-alliance-name", type: "text", size: 40 });
  const admission = h("select", { id: "setup-admission" }, ["consensus", "majority", "coordinator"].map((k) => h("option", { value: k }, t("setup.rule." + k))));
  const ticket = h("textarea", { id: "setup-ticket", rows: 3, cols: 60, "aria-label": t("setup.ticket") });
  // Kept across redraws: waiting for an admission joins with it again.
  ticket.value = setupState.ticket || "";
  ticket.addEventListener("input", () => { setupState.ticket = ticket.value; });
  if (status.setup === "pending" && !setupState.pending) setupState.pending = t("setup.pendingnow");
  const join = (wait) => act(async () => {
    setupState.ticket = ticket.value;
    const r = await api("POST", "/setup/join", { ticket: ticket.value, wait });
    if (r.status === "pending") { setupState.pending = r.waiting; setupState.key = null; notice(t("setup.pending", { w: r.waiting }), true); }
    else await started();
  });
  const scan = "BarcodeDetector" in window && navigator.mediaDevices ? h("button", { id: "setup-scan", onclick: () => scanTicket(ticket) }, t("setup.scan")) : null;
  fill(main, h("h1", {}, t("setup.welcome")), h("p", {}, t("setup.orgready", { org: status.org })),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, t("setup.join")), h("p", { class: "muted" }, t("setup.joinhint")),
        h("p", {}, h("label", {}, t("setup.ticket"), h("br"), ticket)),
        h("div", { class: "row" }, h("button", { class: "primary", id: "setup-join", onclick: () => join(false) }, t("setup.joinbtn")), scan),
        setupState.pending ? h("p", { id: "setup-pending" }, t("setup.pending", { w: setupState.pending }), " ",
          h("button", { id: "setup-wait", onclick: () => join(true) }, t("setup.wait"))) : null),
      h("div", { class: "card" }, h("h2", {}, t("setup.found")), h("p", { class: "muted" }, t("setup.foundhint")),
        h("p", { class: "field" }, h("label", {}, t("setup.alliancename") + " ", alliance)),
        h("p", { class: "field" }, h("label", {}, t("setup.rule") + " ", admission), " ", h("span", { class: "hint muted" }, t("setup.rulehint"))),
        h("button", { class: "primary", id: "setup-found", onclick: () => act(async () => {
          await api("POST", "/setup/found", { name: alliance.value, admission: admission.value });
          await started();
        }) }, t("setup.foundbtn")))));
}

// Reads a ticket's QR code with the camera, where the browser offers it.
async function scanTicket(into) {
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }); }
  catch (e) { notice(t("setup.nocamera")); return; }
  const video = h("video", { autoplay: true, playsinline: true, "aria-label": t("setup.scan") });
  video.srcObject = stream;
  const close = () => { stream.getTracks().forEach((tr) => tr.stop()); dlg.close(); dlg.remove(); };
  const dlg = h("dialog", { id: "scan-dialog" }, video, h("p", {}, h("button", { onclick: close }, t("cal.close"))));
  document.body.append(dlg);
  dlg.showModal();
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  const look = async () => {
    if (!dlg.open) return;
    const codes = await detector.detect(video).catch(() => []);
    if (codes.length) { into.value = codes[0].rawValue; close(); return; }
    setTimeout(look, 300);
  };
  look();
}

// ---- start -------------------------------------------------------------------

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const b of document.querySelectorAll("[data-lang]")) b.classList.toggle("on", b.dataset.lang === lang);
}

// Live updates. A browser opens at most six connections to one host, and
// each stream of changes holds one for good: with one stream per tab, the
// seventh tab would never load. So one tab at a time (the holder of a Web
// Lock) listens to the node and passes each change to the other tabs on a
// BroadcastChannel; when it closes, another tab takes the lock over.
function listen() {
  let timer = null;
  const changed = () => { clearTimeout(timer); timer = setTimeout(refresh, 150); };
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("entraide-changes") : null;
  if (channel) channel.onmessage = changed;
  const stream = () => new Promise((resolve) => {
    const es = new EventSource("/api/changes");
    es.addEventListener("change", () => { changed(); if (channel) channel.postMessage("change"); });
    es.addEventListener("open", () => loadStatus());
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) { if (!(status && status.setup)) setOnline(null); es.close(); setTimeout(resolve, 3000); }
    });
  });
  const hold = async () => { for (;;) await stream(); };
  if (navigator.locks && channel) navigator.locks.request("entraide-changes", hold);
  else hold();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => {
    lang = b.dataset.lang; localStorage.setItem("entraide.lang", lang); applyLang(); route();
  });
  applyLang();
  window.addEventListener("hashchange", route);
  route();
  listen();
  // Peers come and go without a document change: look again now and then.
  setInterval(() => { if (current && current.name === "home") refresh(); else loadStatus(); }, 5000);
});
