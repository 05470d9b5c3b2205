"""App identity (spec 2.4): the names each OS reports -> one stable app id and a category.

The table is data: one row per app with its id, its category and every name the operating
systems report for it (Windows ``.exe`` names, X11 ``WM_CLASS`` instance and class, macOS
bundle ids and display names). Where the seed project's models know an app, the id is the
seed's string (``com.microsoft.VSCode``...), so a model trained on either side understands it.
Lookup is case-insensitive and ignores spaces, dashes, underscores and a trailing ``.exe`` /
``.app``, so ``Google Chrome``, ``google-chrome`` and ``chrome.exe`` all match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CATEGORIES: tuple[str, ...] = (
    "browser",
    "editor",
    "terminal",
    "email",
    "chat",
    "meeting",
    "docs",
    "design",
    "devtools",
    "media",
    "file_manager",
    "utilities",
    "project_mgmt",
    "lockscreen",
    "other",
)


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the feature builder needs to know about a foreground app."""

    app_id: str
    category: str
    is_browser: bool = field(init=False)
    is_editor: bool = field(init=False)
    is_terminal: bool = field(init=False)

    def __post_init__(self) -> None:
        # The flags follow the category (spec 2.4); they are stored for cheap access.
        object.__setattr__(self, "is_browser", self.category == "browser")
        object.__setattr__(self, "is_editor", self.category == "editor")
        object.__setattr__(self, "is_terminal", self.category == "terminal")


UNKNOWN_APP = AppInfo("unknown", "other")
LOCKSCREEN = AppInfo("system.lockscreen", "lockscreen")

# (app_id, category, names reported by the operating systems)
_TABLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # -- browsers
    ("com.google.Chrome", "browser", ("Google Chrome", "chrome.exe", "google-chrome",
                                      "google-chrome-stable", "Chrome", "chrome")),
    ("org.chromium.Chromium", "browser", ("Chromium", "chromium-browser", "chromium.exe")),
    ("org.mozilla.firefox", "browser", ("Firefox", "firefox.exe", "firefox-esr", "Navigator",
                                        "org.mozilla.firefoxdeveloperedition",
                                        "Firefox Developer Edition", "firefox-developer-edition")),
    ("com.microsoft.edgemac", "browser", ("Microsoft Edge", "msedge.exe", "microsoft-edge",
                                          "microsoft-edge-stable", "Edge")),
    ("com.apple.Safari", "browser", ("Safari", "com.apple.SafariTechnologyPreview")),
    ("com.brave.Browser", "browser", ("Brave Browser", "brave.exe", "brave-browser", "Brave")),
    ("com.operasoftware.Opera", "browser", ("Opera", "opera.exe")),
    ("com.vivaldi.Vivaldi", "browser", ("Vivaldi", "vivaldi.exe", "vivaldi-stable")),
    ("company.thebrowser.Browser", "browser", ("Arc", "arc.exe")),
    ("org.gnome.Epiphany", "browser", ("Epiphany", "GNOME Web")),
    # -- editors and IDEs
    ("com.microsoft.VSCode", "editor", ("Visual Studio Code", "Code", "code.exe", "code-oss",
                                        "VSCodium", "codium", "com.vscodium", "code - insiders",
                                        "com.microsoft.VSCodeInsiders")),
    ("com.jetbrains.intellij", "editor", ("IntelliJ IDEA", "idea64.exe", "idea.exe",
                                          "jetbrains-idea", "jetbrains-idea-ce",
                                          "com.jetbrains.intellij.ce", "IntelliJ IDEA CE",
                                          "IntelliJ IDEA Community Edition",
                                          "IntelliJ IDEA Ultimate")),
    ("com.jetbrains.pycharm", "editor", ("PyCharm", "pycharm64.exe", "jetbrains-pycharm",
                                         "jetbrains-pycharm-ce", "com.jetbrains.pycharm.ce",
                                         "PyCharm CE", "PyCharm Community Edition")),
    ("com.jetbrains.WebStorm", "editor", ("WebStorm", "webstorm64.exe", "jetbrains-webstorm")),
    ("com.jetbrains.goland", "editor", ("GoLand", "goland64.exe", "jetbrains-goland")),
    ("com.jetbrains.CLion", "editor", ("CLion", "clion64.exe", "jetbrains-clion")),
    ("com.jetbrains.rider", "editor", ("Rider", "rider64.exe", "jetbrains-rider")),
    ("com.google.android.studio", "editor", ("Android Studio", "studio64.exe",
                                             "jetbrains-studio")),
    ("com.microsoft.VisualStudio", "editor", ("Visual Studio", "devenv.exe")),
    ("com.apple.dt.Xcode", "editor", ("Xcode",)),
    ("com.sublimetext.4", "editor", ("Sublime Text", "sublime_text.exe", "sublime_text",
                                     "subl", "com.sublimetext.3")),
    ("dev.zed.Zed", "editor", ("Zed", "zed.exe", "zed-editor")),
    ("com.todesktop.cursor", "editor", ("Cursor", "cursor.exe")),
    ("org.vim.MacVim", "editor", ("MacVim", "gvim", "gvim.exe", "Gvim", "vim")),
    ("org.gnu.Emacs", "editor", ("Emacs", "emacs.exe", "runemacs.exe")),
    ("notepad-plus-plus.org", "editor", ("Notepad++", "notepad++.exe")),
    ("com.microsoft.Notepad", "editor", ("Notepad", "notepad.exe")),
    ("org.gnome.TextEditor", "editor", ("gedit", "org.gnome.gedit", "gnome-text-editor",
                                        "Text Editor")),
    ("org.kde.kate", "editor", ("Kate", "kate.exe", "KWrite")),
    ("com.apple.TextEdit", "editor", ("TextEdit",)),
    ("org.eclipse.platform.ide", "editor", ("Eclipse", "eclipse.exe")),
    # -- terminals
    ("com.apple.Terminal", "terminal", ("Terminal",)),
    ("com.googlecode.iterm2", "terminal", ("iTerm2", "iTerm")),
    ("com.microsoft.WindowsTerminal", "terminal", ("Windows Terminal", "WindowsTerminal.exe",
                                                   "wt.exe")),
    ("com.microsoft.cmd", "terminal", ("cmd.exe", "Command Prompt", "conhost.exe")),
    ("com.microsoft.powershell", "terminal", ("powershell.exe", "pwsh.exe", "PowerShell")),
    ("org.gnome.Terminal", "terminal", ("gnome-terminal", "gnome-terminal-server",
                                        "Gnome-terminal", "org.gnome.Console", "kgx")),
    ("org.kde.konsole", "terminal", ("Konsole",)),
    ("org.xfce.terminal", "terminal", ("xfce4-terminal", "Xfce4-terminal")),
    ("org.alacritty", "terminal", ("Alacritty", "alacritty.exe")),
    ("net.kovidgoyal.kitty", "terminal", ("kitty",)),
    ("com.github.wez.wezterm", "terminal", ("WezTerm", "wezterm-gui.exe", "org.wezfurlong.wezterm")),
    ("dev.warp.Warp-Stable", "terminal", ("Warp", "warp.exe")),
    ("org.x.xterm", "terminal", ("xterm", "XTerm", "UXTerm", "uxterm")),
    ("org.tilix", "terminal", ("Tilix", "com.gexperts.Tilix")),
    ("org.terminator", "terminal", ("Terminator",)),
    ("org.hyper", "terminal", ("Hyper", "co.zeit.hyper")),
    ("org.putty", "terminal", ("PuTTY", "putty.exe")),
    # -- mail
    ("com.apple.mail", "email", ("Mail", "Apple Mail")),
    ("com.microsoft.Outlook", "email", ("Microsoft Outlook", "Outlook", "outlook.exe",
                                        "olk.exe", "new outlook")),
    ("org.mozilla.thunderbird", "email", ("Thunderbird", "thunderbird.exe",
                                          "org.mozilla.Thunderbird")),
    ("org.gnome.Evolution", "email", ("Evolution", "evolution")),
    ("com.readdle.smartemail-Mac", "email", ("Spark", "Spark Desktop")),
    ("com.microsoft.windowscommunicationsapps", "email", ("HxOutlook.exe", "Mail and Calendar")),
    # -- chat
    ("com.tinyspeck.slackmacgap", "chat", ("Slack", "slack.exe", "com.slack.Slack")),
    ("com.hnc.Discord", "chat", ("Discord", "discord.exe", "com.discordapp.Discord")),
    ("ru.keepcoder.Telegram", "chat", ("Telegram", "Telegram Desktop", "telegram.exe",
                                       "telegram-desktop", "org.telegram.desktop")),
    ("net.whatsapp.WhatsApp", "chat", ("WhatsApp", "whatsapp.exe", "WhatsApp.Root.exe")),
    ("org.whispersystems.signal-desktop", "chat", ("Signal", "signal.exe", "signal-desktop")),
    ("im.riot.app", "chat", ("Element", "element.exe", "element-desktop")),
    ("com.mattermost.desktop", "chat", ("Mattermost", "mattermost.exe")),
    ("com.apple.MobileSMS", "chat", ("Messages",)),
    ("com.skype.skype", "chat", ("Skype", "skype.exe", "Skype for Desktop")),
    # -- meetings
    ("us.zoom.xos", "meeting", ("zoom.us", "Zoom", "zoom.exe", "Zoom Workplace", "zoom")),
    ("com.microsoft.teams2", "meeting", ("Microsoft Teams", "Teams", "ms-teams.exe",
                                         "teams.exe", "com.microsoft.teams",
                                         "teams-for-linux")),
    ("com.cisco.webexmeetingsapp", "meeting", ("Webex", "CiscoCollabHost.exe", "webex.exe",
                                               "Cisco Webex Meetings", "Webex Meetings")),
    ("com.apple.FaceTime", "meeting", ("FaceTime",)),
    ("com.logmein.GoToMeeting", "meeting", ("GoTo Meeting", "GoToMeeting", "g2mstart.exe")),
    ("com.jitsi.meet", "meeting", ("Jitsi Meet", "jitsi-meet.exe")),
    # -- docs and notes
    ("com.apple.Notes", "docs", ("Notes", "Apple Notes")),
    ("com.microsoft.Word", "docs", ("Microsoft Word", "Word", "winword.exe")),
    ("com.microsoft.Excel", "docs", ("Microsoft Excel", "Excel", "excel.exe")),
    ("com.microsoft.Powerpoint", "docs", ("Microsoft PowerPoint", "PowerPoint",
                                          "powerpnt.exe")),
    ("com.microsoft.onenote.mac", "docs", ("Microsoft OneNote", "OneNote", "onenote.exe")),
    ("com.apple.iWork.Pages", "docs", ("Pages",)),
    ("com.apple.iWork.Numbers", "docs", ("Numbers",)),
    ("com.apple.iWork.Keynote", "docs", ("Keynote",)),
    ("org.libreoffice.LibreOffice", "docs", ("LibreOffice", "soffice.exe", "soffice.bin",
                                             "libreoffice", "libreoffice-writer",
                                             "libreoffice-calc", "libreoffice-impress",
                                             "org.libreoffice.script")),
    ("notion.id", "docs", ("Notion", "notion.exe")),
    ("md.obsidian", "docs", ("Obsidian", "obsidian.exe")),
    ("com.evernote.Evernote", "docs", ("Evernote", "evernote.exe")),
    ("net.shinyfrog.bear", "docs", ("Bear",)),
    ("com.logseq.logseq", "docs", ("Logseq", "logseq.exe")),
    ("net.sourceforge.zotero", "docs", ("Zotero", "zotero.exe", "org.zotero.zotero")),
    ("com.adobe.Reader", "docs", ("Adobe Acrobat Reader", "Adobe Acrobat", "AcroRd32.exe",
                                  "Acrobat.exe", "com.adobe.Acrobat.Pro")),
    ("com.apple.Preview", "docs", ("Preview",)),
    ("org.gnome.Evince", "docs", ("Evince", "Document Viewer", "org.gnome.Papers")),
    ("org.kde.okular", "docs", ("Okular", "okular.exe")),
    ("com.sumatrapdfreader", "docs", ("SumatraPDF", "sumatrapdf.exe")),
    # -- design
    ("com.figma.Desktop", "design", ("Figma", "figma.exe", "figma-linux")),
    ("com.bohemiancoding.sketch3", "design", ("Sketch",)),
    ("com.adobe.Photoshop", "design", ("Adobe Photoshop", "Photoshop", "photoshop.exe")),
    ("com.adobe.illustrator", "design", ("Adobe Illustrator", "Illustrator",
                                         "illustrator.exe")),
    ("com.adobe.xd", "design", ("Adobe XD", "xd.exe")),
    ("org.gimp.GIMP", "design", ("GIMP", "gimp.exe", "gimp-2.10", "gimp-2.10.exe", "Gimp-2.10")),
    ("org.inkscape.Inkscape", "design", ("Inkscape", "inkscape.exe")),
    ("org.blender", "design", ("Blender", "blender.exe")),
    ("com.seriflabs.affinitydesigner2", "design", ("Affinity Designer", "Designer.exe")),
    ("org.kde.krita", "design", ("Krita", "krita.exe")),
    # -- developer tools
    ("com.postmanlabs.mac", "devtools", ("Postman", "postman.exe")),
    ("com.insomnia.app", "devtools", ("Insomnia", "insomnia.exe")),
    ("com.docker.docker", "devtools", ("Docker Desktop", "Docker", "docker desktop.exe")),
    ("com.github.GitHubClient", "devtools", ("GitHub Desktop", "githubdesktop.exe")),
    ("com.axosoft.gitkraken", "devtools", ("GitKraken", "gitkraken.exe")),
    ("com.torusknot.SourceTreeNotMAS", "devtools", ("Sourcetree", "sourcetree.exe")),
    ("com.tinyapp.TablePlus", "devtools", ("TablePlus", "tableplus.exe")),
    ("io.dbeaver.DBeaverCommunity", "devtools", ("DBeaver", "dbeaver.exe")),
    ("com.jetbrains.datagrip", "devtools", ("DataGrip", "datagrip64.exe", "jetbrains-datagrip")),
    ("org.wireshark.Wireshark", "devtools", ("Wireshark", "wireshark.exe")),
    ("com.apple.dt.Instruments", "devtools", ("Instruments",)),
    ("org.gitk", "devtools", ("gitk", "git-gui")),
    ("com.microsoft.SSMS", "devtools", ("ssms.exe", "SQL Server Management Studio")),
    ("org.jupyter.lab", "devtools", ("JupyterLab", "jupyterlab.exe", "jlab")),
    # -- media
    ("com.spotify.client", "media", ("Spotify", "spotify.exe")),
    ("com.apple.Music", "media", ("Music", "iTunes", "itunes.exe")),
    ("org.videolan.vlc", "media", ("VLC", "vlc.exe", "VLC media player")),
    ("io.mpv", "media", ("mpv", "mpv.exe")),
    ("com.apple.QuickTimePlayerX", "media", ("QuickTime Player",)),
    ("com.apple.TV", "media", ("TV", "Apple TV")),
    ("com.apple.podcasts", "media", ("Podcasts",)),
    ("com.microsoft.Media.Player", "media", ("Media Player", "wmplayer.exe",
                                             "Microsoft.Media.Player.exe")),
    ("org.gnome.Totem", "media", ("Totem", "Videos", "org.gnome.Rhythmbox3", "Rhythmbox")),
    ("com.apple.Photos", "media", ("Photos", "Microsoft.Photos.exe")),
    ("com.obsproject.obs-studio", "media", ("OBS Studio", "obs64.exe", "obs",
                                            "com.obsproject.Studio")),
    # -- file managers
    ("com.apple.finder", "file_manager", ("Finder",)),
    ("com.microsoft.explorer", "file_manager", ("explorer.exe", "File Explorer",
                                                "Windows Explorer")),
    ("org.gnome.Nautilus", "file_manager", ("Nautilus", "org.gnome.Files", "Files")),
    ("org.kde.dolphin", "file_manager", ("Dolphin",)),
    ("org.xfce.thunar", "file_manager", ("Thunar",)),
    ("org.x.nemo", "file_manager", ("Nemo",)),
    ("org.mate.caja", "file_manager", ("Caja",)),
    ("org.pcmanfm", "file_manager", ("pcmanfm", "Pcmanfm", "pcmanfm-qt")),
    ("com.binarynights.ForkLift", "file_manager", ("ForkLift",)),
    ("com.ghisler.totalcommander", "file_manager", ("Total Commander", "totalcmd64.exe",
                                                    "totalcmd.exe")),
    ("com.cyberduck", "file_manager", ("Cyberduck", "cyberduck.exe")),
    ("org.filezilla-project.filezilla", "file_manager", ("FileZilla", "filezilla.exe")),
    # -- utilities
    ("system.settings", "utilities", ("System Settings", "System Preferences",
                                      "com.apple.systempreferences", "com.apple.systemsettings",
                                      "Settings", "SystemSettings.exe", "gnome-control-center",
                                      "org.gnome.Settings", "systemsettings")),
    ("com.apple.ActivityMonitor", "utilities", ("Activity Monitor",)),
    ("com.microsoft.taskmgr", "utilities", ("Task Manager", "taskmgr.exe",
                                            "gnome-system-monitor", "System Monitor")),
    ("com.apple.calculator", "utilities", ("Calculator", "calc.exe", "CalculatorApp.exe",
                                           "gnome-calculator", "org.gnome.Calculator")),
    ("com.apple.iCal", "utilities", ("Calendar", "gnome-calendar", "org.gnome.Calendar")),
    ("com.apple.reminders", "utilities", ("Reminders",)),
    ("com.apple.Spotlight", "utilities", ("Spotlight", "SearchHost.exe", "SearchApp.exe")),
    ("com.runningwithcrayons.Alfred", "utilities", ("Alfred",)),
    ("com.raycast.macos", "utilities", ("Raycast",)),
    ("com.microsoft.rdc", "utilities", ("Remote Desktop Connection", "mstsc.exe",
                                        "Microsoft Remote Desktop", "com.microsoft.rdc.macos",
                                        "Windows App", "Remmina", "org.remmina.Remmina")),
    ("com.teamviewer.TeamViewer", "utilities", ("TeamViewer", "teamviewer.exe")),
    ("com.philandro.anydesk", "utilities", ("AnyDesk", "anydesk.exe")),
    ("com.microsoft.PowerToys", "utilities", ("PowerToys", "PowerToys.exe")),
    ("com.1password.1password", "utilities", ("1Password", "1password.exe", "com.agilebits.onepassword7")),
    ("com.bitwarden.desktop", "utilities", ("Bitwarden", "bitwarden.exe")),
    ("org.keepassxc.keepassxc", "utilities", ("KeePassXC", "keepassxc.exe")),
    ("com.apple.screenshot", "utilities", ("Screenshot", "SnippingTool.exe", "Snipping Tool",
                                           "ScreenSketch.exe", "flameshot",
                                           "org.gnome.Screenshot", "gnome-screenshot")),
    ("com.microsoft.shell", "utilities", ("ShellExperienceHost.exe", "StartMenuExperienceHost.exe",
                                          "gnome-shell", "plasmashell", "Dock", "com.apple.dock",
                                          "SystemUIServer", "com.apple.systemuiserver",
                                          "ControlCenter", "com.apple.controlcenter")),
    # -- project management
    ("com.atlassian.jira", "project_mgmt", ("Jira", "jira.exe")),
    ("com.linear", "project_mgmt", ("Linear", "linear.exe")),
    ("com.asana.desktop", "project_mgmt", ("Asana", "asana.exe")),
    ("com.trello", "project_mgmt", ("Trello", "trello.exe")),
    ("com.clickup.desktop-app", "project_mgmt", ("ClickUp", "clickup.exe")),
    ("com.culturedcode.ThingsMac", "project_mgmt", ("Things", "Things 3")),
    ("com.todoist.mac.Todoist", "project_mgmt", ("Todoist", "todoist.exe")),
    ("com.microsoft.Project", "project_mgmt", ("Microsoft Project", "winproj.exe")),
    ("com.omnigroup.OmniFocus3", "project_mgmt", ("OmniFocus",)),
    ("com.monday.desktop", "project_mgmt", ("monday.com", "monday.exe")),
    # -- lock screens and screen savers
    (LOCKSCREEN.app_id, "lockscreen", ("LockApp.exe", "LockApp", "LogonUI.exe", "loginwindow",
                                       "com.apple.loginwindow", "ScreenSaverEngine",
                                       "com.apple.ScreenSaver.Engine", "xscreensaver",
                                       "gnome-screensaver", "light-locker", "i3lock", "swaylock",
                                       "xsecurelock", "slock", "kscreenlocker_greet",
                                       "cinnamon-screensaver", "mate-screensaver",
                                       "xfce4-screensaver", "lightdm", "gdm", "gdm-x-session")),
)

#: Windows' frame host for UWP/Store apps: the real app is the hosted one.
UWP_HOSTS: frozenset[str] = frozenset({"applicationframehost"})

# Names several apps report identically; the first row listed for a name wins, which is
# deliberate (e.g. "Mail" is Apple Mail; Thunderbird is found by its other names).
_STRIP = re.compile(r"[\s_\-]+")
_UNSAFE = re.compile(r"[^a-z0-9.+]+")


def _key(name: str) -> str:
    """The lookup form of a reported name: casefolded, no separators, no .exe/.app suffix."""
    k = name.strip().casefold()
    for suffix in (".exe", ".app"):
        if k.endswith(suffix):
            k = k[: -len(suffix)]
    return _STRIP.sub("", k)


def _build_index() -> tuple[dict[str, AppInfo], dict[str, AppInfo]]:
    by_name: dict[str, AppInfo] = {}
    by_id: dict[str, AppInfo] = {}
    for app_id, category, names in _TABLE:
        if category not in CATEGORIES:
            raise ValueError(f"app table: unknown category {category!r} for {app_id}")
        info = LOCKSCREEN if app_id == LOCKSCREEN.app_id else AppInfo(app_id, category)
        by_id[app_id] = info
        for n in (app_id, *names):
            by_name.setdefault(_key(n), info)
    return by_name, by_id


_BY_NAME, _BY_ID = _build_index()


def known_apps() -> tuple[AppInfo, ...]:
    """Every app of the table (for docs and tests)."""
    return tuple(_BY_ID.values())


def lookup(name: str | None) -> AppInfo | None:
    """The table entry for one reported name, or None when the table does not know it."""
    if not name:
        return None
    return _BY_NAME.get(_key(name))


def normalise_name(name: str, *, strip_suffix: bool = True) -> str:
    """A safe, stable suffix for ``unknown.<name>``: lowercase ``[a-z0-9.+-]``, at most 64."""
    k = name.strip().casefold()
    for suffix in (".exe", ".app") if strip_suffix else ():
        if k.endswith(suffix):
            k = k[: -len(suffix)]
    k = _UNSAFE.sub("-", k).strip("-.")
    return k[:64].strip("-.")


def identify_app(
    name: str | None,
    *,
    exe: str | None = None,
    wm_class: tuple[str, ...] | None = None,
    bundle_id: str | None = None,
    hosted_app: str | None = None,
) -> AppInfo:
    """Resolve any subset of hints to one ``AppInfo``; the most specific known hint wins.

    Order: the app hosted by a UWP frame host, the macOS bundle id, the executable name, the
    X11 WM_CLASS (class, then instance), the display/process name. When no hint is in the
    table the app is ``unknown.<normalised most specific hint>`` with category ``other``;
    with no hint at all it is ``UNKNOWN_APP``.
    """
    hints: list[str] = []
    host = exe or name
    if hosted_app and host and _key(host) in UWP_HOSTS:
        hints.append(hosted_app)
    if bundle_id:
        hints.append(bundle_id)
    if exe:
        hints.append(exe)
    if wm_class:
        hints.extend(reversed([c for c in wm_class if c]))
    if name:
        hints.append(name)
    if hosted_app and hosted_app not in hints:
        hints.append(hosted_app)
    for h in hints:
        info = _BY_NAME.get(_key(h))
        if info is not None:
            return info
    for h in hints:
        if _key(h) in UWP_HOSTS:
            continue
        norm = normalise_name(h, strip_suffix=h != bundle_id)
        if norm:
            return AppInfo(f"unknown.{norm}", "other")
    return UNKNOWN_APP
