# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -ItemType Directory -Path C:\app ; `
    Write-Host 'done'
WORKDIR C:\app
COPY . .
CMD ["app.exe"]
