; Inno Setup script: installs the onedir bundle from `python packaging/build.py agent`.
[Setup]
AppName=taskclf
AppVersion=0.1.0
DefaultDirName={localappdata}\Programs\taskclf
DefaultGroupName=taskclf
PrivilegesRequired=lowest
OutputBaseFilename=taskclf-setup
OutputDir=..\..\dist
Compression=lzma2
SolidCompression=yes

[Files]
Source: "..\..\dist\taskclf-tray\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\taskclf"; Filename: "{app}\taskclf-tray.exe"

[Tasks]
Name: "autostart"; Description: "Start taskclf when I sign in"; Flags: unchecked

[Registry]
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "taskclf"; ValueData: """{app}\taskclf-tray.exe"""; Tasks: autostart; Flags: uninsdeletevalue

[UninstallDelete]
Type: filesandordirs; Name: "{app}"

[UninstallRun]
Filename: "reg.exe"; Parameters: "delete HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v taskclf /f"; Flags: runhidden; RunOnceId: "RemoveAutostart"
