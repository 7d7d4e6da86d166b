MODULE CellEgmSeam
    !=====================================================================================
    ! TEMPLATE: ABB EGM path correction for a cellctl welding cell (issue 18).
    !
    ! Written after the path-correction examples in ABB's "Application manual - Externally
    ! Guided Motion" (EGMSetupUC \PathCorr, EGMActMove, EGMMoveL / EGMMoveC) and the RAPID
    ! reference manual. It has NOT been run on a robot: it is a starting point for the
    ! commissioning engineer, not a program to load as it is. Check every instruction and
    ! optional argument against the manuals of the RobotWare version on the robot, and
    ! replace the tool, work object, targets, speeds and signal names with the cell's own.
    !
    ! What the cell controller (cellctl) expects from the job (docs/robots/abb/README.md):
    ! - it streams EGM feedback while the seam runs (EGMStreamStart) and takes path
    !   corrections from the controller's UDP port: lateral = y, vertical = z of the path
    !   coordinates, absolute offsets from the taught path, at the torch (\APTR);
    ! - it reports ready / at seam start / at seam end / job done / job fault, and waits for
    !   "seam go" before it runs the seam and after it (the controller switches the arc);
    ! - seam finding: it stops at a search position 26 mm (sensor look-ahead 30 less seam
    !   finding's start inset 4) before the seam start on the seam's line, reports "at
    !   search", waits for "search done", then reads the frame offset the controller found
    !   (three group inputs, 0.01 mm, signed) and shifts the rest of the job by it (PDispSet):
    !   EGM's path correction acts only inside EGMMoveL / EGMMoveC, so it cannot carry the
    !   shift to the seam start (README.md);
    ! - hold and stop come from the cell PLC and act through interrupts (StopMove).
    !=====================================================================================

    ! -- EGM: these must match robot.abb_egm in the cell's cell.yaml ------------------------
    ! sample_rate_ms (a multiple of 4 ms)
    CONST num EGM_SAMPLE_RATE_MS := 4;
    ! comm_timeout_ms / 1000: no sensor message this long stops the robot (ERR_UDPUC_COMM)
    CONST num EGM_COMM_TIMEOUT_S := 0.1;
    ! The UdpUc device (SIO configuration, SIO_EGM.cfg) and the External Motion Interface
    ! Data instance for path correction (Motion configuration, see README.md)
    CONST string EGM_DEVICE := "UCdevice";
    CONST string EGM_MOTION_DATA := "pathcorr";
    VAR egmident egmSeam;

    ! -- the cell: replace with the cell's tool, fixture and taught targets ----------------
    PERS tooldata tWeldGun := [TRUE,[[0,0,400],[1,0,0,0]],[5,[0,0,150],[1,0,0,0],0,0,0]];
    PERS wobjdata wobjFixture := [FALSE,TRUE,"",[[800,0,600],[1,0,0,0]],[[0,0,0],[1,0,0,0]]];
    CONST jointtarget jHome := [[0,0,0,0,30,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    ! Job 1, BRACKET_A12_S1 (a part program's robot_job; its number is robot.jobs in
    ! cell.yaml): a line, then an arc through a via point; taught from the part program's
    ! seam path (the part frame is the work object).
    CONST robtarget pS1Approach := [[274,0,58],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    ! The search position: on the seam's line, 26 mm before pS1Start (the seam runs along +x)
    CONST robtarget pS1Search := [[274,0,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Start := [[300,0,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Corner := [[360,0,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Via := [[388.3,11.7,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1End := [[400,40,8],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    CONST robtarget pS1Depart := [[400,40,58],[0,0,1,0],[0,0,0,0],[9E9,9E9,9E9,9E9,9E9,9E9]];
    ! The WPS travel speed (mm/s) is the robot's: the part program's speed, taught here.
    CONST speeddata vWeld := [8,30,5000,1000];
    ! From the search position to the seam start: the controller's laser reads the first
    ! 30 mm of the joint meanwhile (15 mm/s).
    CONST speeddata vPrescan := [15,30,5000,1000];
    ! Touch searches: the part program's search speed (10 mm/s); the controller's contact
    ! latch is as good as this speed times its poll of the power source.
    CONST speeddata vSearch := [10,30,5000,1000];
    ! The frame offset seam finding found, in the work object (the part program's frame)
    VAR pose pdSeamFound := [[0,0,0],[1,0,0,0]];

    ! -- the job signals, wired through the cell PLC (cell.yaml plc.registers robot_*) -----
    ! Robot inputs (PLC outputs): giJobNumber (robot_job_number), diJobStart
    ! (robot_job_start), diSeamGo (robot_seam_go), diHold (robot_hold), diStop (robot_stop).
    ! diSearchDone (robot_search_done), giOffsetX/Y/Z (robot_offset_x/y/z_mm: 16 bits each,
    ! int16 in 0.01 mm).
    ! Robot outputs (PLC inputs): doReady (robot_ready), doAtSeamStart (robot_at_seam_start),
    ! doAtSeamEnd (robot_at_seam_end), doJobDone (robot_job_done), doJobFault
    ! (robot_job_fault), doAtSearch (robot_at_search). Define them in the robot's I/O
    ! configuration.
    ! Touch sensing through the job (a seam with seam_finding: touch; cellctl.weld.owned_touch):
    ! giTouchSearch (robot_touch_search_number, 16 bits), diTouchGo (robot_touch_go),
    ! diTouchStop (robot_touch_stop); doTouchMoving (robot_touch_moving). SmarTac's SearchL is
    ! the robot's own touch sensing; here the power source stays on the controller's link, so
    ! the search is a plain MoveL that the controller stops (StopMove) at the wire's contact.
    VAR intnum irTouchStop;
    VAR bool bTouchStopped := FALSE;
    VAR intnum irHold;
    VAR intnum irStop;

    PROC main()
        IDelete irHold;
        CONNECT irHold WITH trHold;
        ISignalDI diHold,1,irHold;
        IDelete irStop;
        CONNECT irStop WITH trStop;
        ISignalDI diStop,1,irStop;
        Reset doAtSeamStart;
        Reset doAtSeamEnd;
        Reset doJobDone;
        Reset doJobFault;
        Reset doAtSearch;
        MoveAbsJ jHome,v500,fine,tWeldGun;
        SetDO doReady,1;
        WaitDI diJobStart,1;
        SetDO doReady,0;
        TEST giJobNumber
        CASE 1:
            Job_BRACKET_A12_S1;
        CASE 3:
            Job_COUPON_FILLET_80;
        DEFAULT:
            ErrWrite "cellctl job","Unknown job number "+ValToStr(giJobNumber);
            SetDO doJobFault,1;
        ENDTEST
        MoveAbsJ jHome,v500,fine,tWeldGun;
        SetDO doJobDone,1;
        WaitDI diJobStart,0;
        Reset doJobDone;
    ENDPROC

    PROC Job_BRACKET_A12_S1()
        MoveJ pS1Approach,v500,z10,tWeldGun\WObj:=wobjFixture;
        ! The stream first: the controller checks from it where the search position is.
        EgmSeamOn;
        MoveL pS1Search,v100,fine,tWeldGun\WObj:=wobjFixture;
        ! Seam finding: the controller finds the joint with the laser here, writes the frame
        ! offset and sets search done; the rest of the job is shifted by it.
        SetDO doAtSearch,1;
        WaitDI diSearchDone,1;
        Reset doAtSearch;
        ReadSeamOffset;
        MoveL pS1Start,vPrescan,fine,tWeldGun\WObj:=wobjFixture;
        ! The controller's laser read the first 30 mm on the way: it drops search done with
        ! the offset of the start itself; onto it (a few hundredths of a mm), then the start.
        WaitDI diSearchDone,0;
        ReadSeamOffset;
        MoveL pS1Start,vPrescan,fine,tWeldGun\WObj:=wobjFixture;
        ! At the seam start: the controller switches the arc on, then sets seam go.
        SetDO doAtSeamStart,1;
        WaitDI diSeamGo,1;
        Reset doAtSeamStart;
        ! The seam, with the controller's path correction overlaid by EGM.
        EGMMoveL egmSeam,pS1Corner,vWeld,z1,tWeldGun\WObj:=wobjFixture;
        EGMMoveC egmSeam,pS1Via,pS1End,vWeld,fine,tWeldGun\WObj:=wobjFixture;
        ! At the seam end: the controller fills the crater, switches the arc off, drops go.
        SetDO doAtSeamEnd,1;
        WaitDI diSeamGo,0;
        Reset doAtSeamEnd;
        EgmSeamOff;
        MoveL pS1Depart,v200,z10,tWeldGun\WObj:=wobjFixture;
        PDispOff;
    ERROR
        IF ERRNO=ERR_UDPUC_COMM THEN
            ! No path correction for EGM_COMM_TIMEOUT_S: EGM has stopped the robot on its
            ! path. The controller sees MCI state ERROR in the stream (or the stream gone),
            ! takes the arc off and waits for a person; the job ends with a fault.
            SetDO doJobFault,1;
            EgmSeamOff;
            PDispOff;
            ExitCycle;
        ENDIF
        RAISE;
    ENDPROC

    PROC Job_COUPON_FILLET_80()
        ! The touch coupon, found by the wire alone: at the search position the controller
        ! asks for the job's searches by number (1..4: the part's frame, touch_frame; 5, 6:
        ! the seam's corner), then sets search done with the offset at the start as the frame
        ! offset (read on both edges, as after the laser's search).
        MoveJ pS3Approach,v500,z10,tWeldGun\WObj:=wobjFixture;
        EgmSeamOn;
        MoveL pS3Search,v100,fine,tWeldGun\WObj:=wobjFixture;
        SetDO doAtSearch,1;
        WHILE diSearchDone=0 DO
            WaitUntil diTouchGo=1 OR diSearchDone=1;
            IF diTouchGo=1 THEN
                Reset doAtSearch;
                TouchSearch giTouchSearch;
                MoveL pS3SearchAbove,v200,z10,tWeldGun\WObj:=wobjFixture;
                MoveL pS3Search,v100,fine,tWeldGun\WObj:=wobjFixture;
                WaitDI diTouchGo,0;
                SetDO doAtSearch,1;
            ENDIF
        ENDWHILE
        Reset doAtSearch;
        ReadSeamOffset;
        MoveL pS3Start,vPrescan,fine,tWeldGun\WObj:=wobjFixture;
        WaitDI diSearchDone,0;
        ReadSeamOffset;
        MoveL pS3Start,vPrescan,fine,tWeldGun\WObj:=wobjFixture;
        SetDO doAtSeamStart,1;
        WaitDI diSeamGo,1;
        Reset doAtSeamStart;
        ! A turned part's change of the offset along the seam comes as EGM's path correction.
        EGMMoveL egmSeam,pS3End,vWeld,fine,tWeldGun\WObj:=wobjFixture;
        SetDO doAtSeamEnd,1;
        WaitDI diSeamGo,0;
        Reset doAtSeamEnd;
        EgmSeamOff;
        MoveL pS3Depart,v200,z10,tWeldGun\WObj:=wobjFixture;
        PDispOff;
    ENDPROC

    PROC TouchSearch(num nSearch)
        ! One search as taught on the master part (the part program's start_mm, torch_deg,
        ! direction, distance_mm, speed): above its start, onto it, the search MoveL towards
        ! the plate with doTouchMoving set. diTouchStop (the controller saw the wire touch and
        ! latched the pose from the EGM stream) stops it where it is; a MoveL that reaches its
        ! end found nothing (the controller faults F152, naming the search).
        bTouchStopped := FALSE;
        IDelete irTouchStop;
        CONNECT irTouchStop WITH trTouchStop;
        TEST nSearch
        CASE 1:
            ! base: from (280, 0, 25) straight down, 30 mm, 10 mm/s, the torch upright
            MoveL pT1Above,v200,z10,tWeldGun\WObj:=wobjFixture;
            MoveL pT1Start,v100,fine,tWeldGun\WObj:=wobjFixture;
            SetDO doTouchMoving,1;
            ISignalDI diTouchStop,1,irTouchStop;
            MoveL pT1End,vSearch,fine,tWeldGun\WObj:=wobjFixture;
            ISleep irTouchStop;
            SetDO doTouchMoving,0;
            MoveL pT1Start,v100,fine,tWeldGun\WObj:=wobjFixture;
            MoveL pT1Above,v200,z10,tWeldGun\WObj:=wobjFixture;
        ! CASE 2..6 likewise: wall-a, wall-b, end (touch_frame), start-base, start-wall (seam).
        DEFAULT:
            ErrWrite "cellctl touch","Unknown search number "+ValToStr(nSearch);
            SetDO doJobFault,1;
        ENDTEST
    ENDPROC

    TRAP trTouchStop
        ! The wire touches: stop the search MoveL where it is and drop the rest of it.
        StopMove;
        ClearPath;
        StartMove;
        bTouchStopped := TRUE;
    ENDTRAP

    PROC ReadSeamOffset()
        ! The frame offset from the PLC (robot_offset_x/y/z_mm), as the displacement of
        ! every following move in the work object.
        pdSeamFound := [[SignedHundredths(giOffsetX),SignedHundredths(giOffsetY),SignedHundredths(giOffsetZ)],[1,0,0,0]];
        PDispSet pdSeamFound;
    ENDPROC

    FUNC num SignedHundredths(num raw)
        ! A 16-bit group input holding an int16 in 0.01 mm, as mm.
        IF raw > 32767 THEN
            RETURN (raw - 65536) / 100;
        ENDIF
        RETURN raw / 100;
    ENDFUNC

    PROC EgmSeamOn()
        ! Path correction at the torch (\APTR: the correction is for the point the tool is
        ! at; the controller has already moved the laser's look-ahead to the torch).
        EGMReset egmSeam;
        EGMGetId egmSeam;
        EGMSetupUC ROB_1,egmSeam,EGM_MOTION_DATA,EGM_DEVICE\PathCorr\APTR\CommTimeout:=EGM_COMM_TIMEOUT_S;
        ! Feedback streams from here on, also while the robot waits at the seam start: the
        ! controller answers every message, so the comm timeout never runs out while it waits.
        EGMStreamStart egmSeam\SampleRate:=EGM_SAMPLE_RATE_MS;
        ! The sensor frame is the tool frame. egm.proto: the correction is "relative the sensor
        ! tool coordinate system"; check the signs of y (lateral, left of travel) and z (up)
        ! on a dry run and turn this frame if they are mirrored (README, "Checked against").
        EGMActMove egmSeam,tWeldGun.tframe\SampleRate:=EGM_SAMPLE_RATE_MS;
    ENDPROC

    PROC EgmSeamOff()
        EGMStreamStop egmSeam;
        EGMReset egmSeam;
    ENDPROC

    TRAP trHold
        ! robot_hold: stop on the path, keep the job; go on where it stopped when released.
        StopMove;
        WaitDI diHold,0;
        StartMove;
    ENDTRAP

    TRAP trStop
        ! robot_stop: stop, drop the path, end the job; main starts over (ready again).
        StopMove\Quick;
        ClearPath;
        EgmSeamOff;
        PDispOff;
        StartMove;
        ExitCycle;
    ENDTRAP
ENDMODULE
